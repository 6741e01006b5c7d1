"""Pick up files that land in a watched folder, each once, and only once they are complete.

A file is complete when its size and modification time are the same at two polls in a row (a
writer still appending changes one or the other). It is then hashed and ingested, and
remembered by path, size, mtime and SHA-256 in the same transaction as its items
(``watch_files``): it is not read again until its size or mtime change, and then only when its
content did (a ``touch`` costs a hash, no ingest). A file that cannot be read as any format is
remembered with the error, and retried only once it changes.

Folders are walked recursively in sorted order; hidden entries (a leading dot) and names that
writers use while a file is in progress (``.part``, ``.tmp``, ``.partial``, ``.crdownload``,
``.download``) are skipped, so a writer that renames a finished file into place is picked up at
once on the next two polls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from fimiwatch.config import Settings
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.store import Store
from fimiwatch.watch.sources import WatchedSource
from fimiwatch.watch.state import MAX_ERROR_CHARS

logger = logging.getLogger(__name__)

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".download", ".swp")


class FolderError(Exception):
    """The folder itself cannot be watched (missing, not a folder, unreadable)."""


@dataclass(frozen=True)
class FileSeen:
    path: str
    size: int
    mtime_ns: int


@dataclass
class FolderResult:
    files: int = 0
    """Files ingested."""
    items_added: int = 0
    errors: list[str] = field(default_factory=list)
    """One message per file that could not be read (the folder itself is fine)."""
    waiting: int = 0
    """Files seen changing, or seen for the first time: complete at the next poll if unchanged."""


def list_files(folder: Path) -> list[FileSeen]:
    """Every candidate file under ``folder`` with its size and mtime, in sorted path order."""
    if not folder.is_dir():
        raise FolderError(f"{folder}: no such folder")
    found: list[FileSeen] = []
    try:
        for child in sorted(folder.rglob("*")):
            relative = child.relative_to(folder)
            if any(part.startswith(".") for part in relative.parts):
                continue
            if child.name.lower().endswith(IN_PROGRESS_SUFFIXES):
                continue
            try:
                info = child.stat()
            except OSError:
                continue  # gone since the listing
            if child.is_file():
                found.append(FileSeen(str(child), info.st_size, info.st_mtime_ns))
    except OSError as exc:
        raise FolderError(f"{folder}: cannot be listed: {exc.strerror or exc}") from None
    return found


def poll_folder(
    store: Store,
    source: WatchedSource,
    settings: Settings,
    now: datetime,
    stop: threading.Event,
) -> FolderResult:
    """Ingest the folder's complete, new files (at most ``max_files_per_round``)."""
    result = FolderResult()
    files = list_files(Path(source.location))
    known = {
        row["path"]: row
        for row in store.rows(
            "SELECT path, seen_size, seen_mtime_ns, size, mtime_ns, sha256 FROM watch_files "
            "WHERE location = ?",
            [source.location],
        )
    }
    complete: list[FileSeen] = []
    changed: list[FileSeen] = []
    for seen in files:
        row = known.get(seen.path)
        if row and (row["size"], row["mtime_ns"]) == (seen.size, seen.mtime_ns):
            continue  # ingested (or failed) as it is now
        if row and (row["seen_size"], row["seen_mtime_ns"]) == (seen.size, seen.mtime_ns):
            complete.append(seen)
        else:
            changed.append(seen)
    result.waiting = len(changed)
    if changed:
        with store.transaction() as con:
            for seen in changed:
                _observe(con, source.location, seen)
    for seen in complete[: settings.watch.max_files_per_round]:
        if stop.is_set():
            break
        previous = known[seen.path]["sha256"]
        added = _ingest_file(store, source, settings, seen, previous, now, result)
        result.items_added += added
    return result


def _observe(con: duckdb.DuckDBPyConnection, location: str, seen: FileSeen) -> None:
    con.execute(
        "INSERT INTO watch_files (path, location, seen_size, seen_mtime_ns) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (path) DO UPDATE SET location = excluded.location, "
        "seen_size = excluded.seen_size, seen_mtime_ns = excluded.seen_mtime_ns",
        [seen.path, location, seen.size, seen.mtime_ns],
    )


def _ingest_file(
    store: Store,
    source: WatchedSource,
    settings: Settings,
    seen: FileSeen,
    previous_sha256: str | None,
    now: datetime,
    result: FolderResult,
) -> int:
    """Ingest one complete file; the number of items it added."""
    path = Path(seen.path)
    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        info = os.stat(path)
    except OSError as exc:
        result.errors.append(f"{path}: cannot be read: {exc.strerror or exc}")
        return 0
    if (info.st_size, info.st_mtime_ns) != (seen.size, seen.mtime_ns):
        with store.transaction() as con:  # written to while hashed: not complete after all
            _observe(con, source.location, FileSeen(seen.path, info.st_size, info.st_mtime_ns))
        return 0

    def remember(con: duckdb.DuckDBPyConnection, ingest_id: int | None, error: str | None) -> None:
        con.execute(
            "UPDATE watch_files SET size = ?, mtime_ns = ?, sha256 = ?, "
            "ingest_id = coalesce(?, ingest_id), ingested_at = ?, error = ? WHERE path = ?",
            [seen.size, seen.mtime_ns, digest, ingest_id, now, error, seen.path],
        )

    if digest == previous_sha256:  # touched, same content
        with store.transaction() as con:
            remember(con, None, None)
        return 0
    try:
        document = open_document(seen.path, settings)
        reader = choose_reader(document, source.format)
        summary = ingest_document(
            store,
            document,
            reader,
            source.source,
            bookkeeping=lambda con, ingest_id: remember(con, ingest_id, None),
        )
    except ReadError as exc:
        error = str(exc)[:MAX_ERROR_CHARS]
        with store.transaction() as con:
            remember(con, None, error)
        result.errors.append(error)
        return 0
    result.files += 1
    return summary.added
