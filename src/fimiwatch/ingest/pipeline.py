"""Ingest one input into the store: read, normalise, quarantine, dedupe, insert — atomically.

Each input is ingested inside one transaction, so a process killed mid-way leaves the store as
it was before that input. Rejected records are written to the ``quarantine`` table in the same
transaction, then appended to the quarantine JSONL file once committed: nothing is lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from fimiwatch import plugins
from fimiwatch.config import Settings
from fimiwatch.ingest.base import InputDocument, ReadError, Reader
from fimiwatch.ingest.normalise import NORMALISED_COLUMNS, normalise_sql
from fimiwatch.quarantine import append_quarantine
from fimiwatch.store import Store

Progress = Callable[[int], None]


@dataclass(frozen=True)
class IngestSummary:
    input: str
    format: str
    records: int
    added: int
    duplicates: int
    rejected: int
    ingest_id: int


def is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


def expand_inputs(names: list[str]) -> Iterator[str]:
    """Files as given; directories walked in sorted order, skipping hidden entries."""
    for name in names:
        path = Path(name)
        if is_url(name) or not path.is_dir():
            yield name
            continue
        for child in sorted(path.rglob("*")):
            relative = child.relative_to(path)
            if child.is_file() and not any(part.startswith(".") for part in relative.parts):
                yield str(child)


def open_document(name: str, settings: Settings) -> InputDocument:
    if is_url(name):
        from fimiwatch.ingest.fetch import fetch_url

        return fetch_url(name, settings.fetch)
    path = Path(name)
    if not path.exists():
        raise ReadError(f"{name}: no such file")
    if not path.is_file():
        raise ReadError(f"{name}: not a regular file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ReadError(f"{name}: cannot be read: {exc.strerror}") from exc
    if path.stat().st_size > settings.ingest.max_file_bytes:
        raise ReadError(f"{name}: larger than the limit of {settings.ingest.max_file_bytes} bytes")
    return InputDocument(name=name, path=path)


def choose_reader(document: InputDocument, format: str = "auto") -> Reader:
    available = plugins.readers()
    if format != "auto":
        if format not in available:
            raise ReadError(
                f"{document.name}: unknown format {format!r}; "
                f"choose one of: auto, {', '.join(sorted(available))}"
            )
        return available[format]()
    head = document.head()
    scores = {name: cls.sniff(document.name, head) for name, cls in available.items()}
    best = max(scores, key=lambda name: (scores[name], name))
    if scores[best] <= 0:
        raise ReadError(
            f"{document.name}: cannot tell the format; pass --format with one of: "
            f"{', '.join(sorted(available))}"
        )
    return available[best]()


def _digest(document: InputDocument) -> str:
    if document.content is not None:
        return hashlib.sha256(document.content).hexdigest()
    with document.open() as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def ingest_document(
    store: Store,
    document: InputDocument,
    reader: Reader,
    source: str | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest one document in a single transaction and return what happened to its records."""
    started = datetime.now(UTC)
    digest = _digest(document)
    settings = store.settings
    con = store.con
    with store.transaction():
        ingest_id = int(store.scalar("SELECT nextval('ingest_id_seq')"))
        con.execute(_staging_ddl(con))
        params = {
            "default_platform": reader.platform,
            "source_override": source,
            "require_time": reader.requires_published_at,
            "max_text": settings.ingest.max_text_chars,
        }
        insert = f"INSERT INTO staging {normalise_sql('staged_batch')}"
        records = 0
        for batch in reader.read(document, settings.ingest):
            con.register("staged_batch", batch.items)
            con.execute(insert, params)
            con.unregister("staged_batch")
            if batch.rejects.num_rows:
                con.register("reader_rejects", batch.rejects)
                con.execute(
                    "INSERT INTO quarantine SELECT ?, ?, line, reason, record FROM reader_rejects",
                    [ingest_id, document.name],
                )
                con.unregister("reader_rejects")
            records += batch.items.num_rows + batch.rejects.num_rows
            if progress:
                progress(batch.items.num_rows + batch.rejects.num_rows)
        counts = _classify_and_insert(con, ingest_id, document.name)
        rejected = int(store.scalar("SELECT count(*) FROM quarantine WHERE ingest_id = ?", [ingest_id]))
        con.execute(
            "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?)",
            [
                ingest_id, document.name, digest, reader.name, source, started,
                records, counts["added"], counts["duplicates"], rejected,
            ],
        )  # fmt: skip
        con.execute("DROP TABLE staging")
        con.execute("DROP TABLE classified")
    append_quarantine(store, settings.quarantine_path, ingest_id)
    return IngestSummary(
        document.name, reader.name, records, counts["added"], counts["duplicates"], rejected,
        ingest_id,
    )  # fmt: skip


def _staging_ddl(con: duckdb.DuckDBPyConnection) -> str:
    """Explicit column definitions, copied from ``items``.

    Not ``CREATE TABLE AS ... WHERE false``: on DuckDB 2.0.0 a table made that way inside a
    transaction loses its rows when a second large INSERT appends to it.
    """
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE items)").fetchall())
    columns = ", ".join(f"{name} {types[name]}" for name in NORMALISED_COLUMNS)
    return f"CREATE OR REPLACE TEMP TABLE staging ({columns}, reject VARCHAR)"


def _classify_and_insert(
    con: duckdb.DuckDBPyConnection, ingest_id: int, name: str
) -> dict[str, int]:
    """Quarantine invalid and conflicting records, drop exact duplicates, insert the rest."""
    con.execute(
        """
        INSERT INTO quarantine
        SELECT ?, ?, line, reject,
            left(CAST(to_json(struct_pack(id, source, platform, account_id, title,
                text := left(text, 1000))) AS VARCHAR), 4096)
        FROM staging WHERE reject IS NOT NULL
        """,
        [ingest_id, name],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE classified AS
        WITH valid AS (
            SELECT *,
                row_number() OVER by_id AS id_rank,
                first_value(content_hash) OVER by_id AS first_hash,
                first_value(line) OVER by_id AS first_line,
                row_number() OVER (PARTITION BY content_hash ORDER BY line) AS hash_rank
            FROM staging WHERE reject IS NULL
            WINDOW by_id AS (PARTITION BY coalesce(source, ''), id ORDER BY line)
        ), stored AS (
            SELECT coalesce(source, '') AS source_key, id, any_value(content_hash) AS stored_hash
            FROM items WHERE id IN (SELECT id FROM valid)
            GROUP BY ALL
        )
        SELECT v.*,
            CASE
                WHEN v.id_rank > 1 AND v.content_hash = v.first_hash THEN 'duplicate'
                WHEN v.id_rank > 1 THEN 'conflict-in-input'
                WHEN s.stored_hash = v.content_hash THEN 'duplicate'
                WHEN s.stored_hash IS NOT NULL THEN 'conflict-in-store'
                WHEN v.hash_rank > 1 THEN 'duplicate'
                WHEN v.content_hash IN (SELECT content_hash FROM items) THEN 'duplicate'
                ELSE 'new'
            END AS status
        FROM valid v
        LEFT JOIN stored s ON s.source_key = coalesce(v.source, '') AND s.id = v.id
        """
    )
    con.execute(
        """
        INSERT INTO quarantine
        SELECT ?, ?, line,
            CASE status
                WHEN 'conflict-in-input' THEN 'id ' || id || ' already used at line '
                    || first_line || ' of this input for different content'
                ELSE 'id ' || id || ' is already stored for different content'
            END,
            left(CAST(to_json(struct_pack(id, source, platform, account_id, title,
                text := left(text, 1000))) AS VARCHAR), 4096)
        FROM classified WHERE status LIKE 'conflict%'
        """,
        [ingest_id, name],
    )
    columns = ", ".join(NORMALISED_COLUMNS)
    con.execute(
        f"INSERT INTO items ({columns}, ingest_id) "
        f"SELECT {columns}, ? FROM classified WHERE status = 'new' ORDER BY line",
        [ingest_id],
    )
    con.execute(
        """
        INSERT INTO accounts
        SELECT platform, account_id, any_value(account_name), any_value(source),
            min(published_at), max(published_at), count(*)
        FROM classified WHERE status = 'new' AND account_id IS NOT NULL
        GROUP BY platform, account_id
        ON CONFLICT (platform, account_id) DO UPDATE SET
            name = coalesce(excluded.name, accounts.name),
            source = coalesce(accounts.source, excluded.source),
            first_seen = least(accounts.first_seen, excluded.first_seen),
            last_seen = greatest(accounts.last_seen, excluded.last_seen),
            items = accounts.items + excluded.items
        """
    )
    rows = con.execute(
        "SELECT count(*) FILTER (status = 'new'), count(*) FILTER (status = 'duplicate') "
        "FROM classified"
    ).fetchall()
    added, duplicates = rows[0]
    return {"added": int(added), "duplicates": int(duplicates)}
