"""What every reader produces, and the small helpers readers share.

A reader turns one input (a file or a fetched document) into :class:`Batch` objects: Arrow
tables of *staged* items (every value still a string, as the input gave it) plus the records it
could not parse. The ingest pipeline then validates and normalises staged items in one place
(``normalise.py``), so every format obeys the same rules for ids, times, platforms and lists.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol, runtime_checkable

import duckdb
import orjson
import pyarrow as pa

from fimiwatch.config import IngestSettings

TEXT_COLUMNS: tuple[str, ...] = (
    "id", "published_at", "text", "title", "platform", "source", "account_id",
    "account_name", "url", "lang", "repost_of", "reply_to",
)  # fmt: skip
LIST_COLUMNS: tuple[str, ...] = ("links", "hashtags", "mentions")
ITEM_KEYS: frozenset[str] = frozenset(TEXT_COLUMNS + LIST_COLUMNS)

STAGED_SCHEMA = pa.schema(
    [pa.field("line", pa.int64())]
    + [pa.field(name, pa.string()) for name in TEXT_COLUMNS]
    + [pa.field(name, pa.list_(pa.string())) for name in LIST_COLUMNS]
    + [pa.field("extra", pa.string())]
)
"""Staged items: ``line`` is the 1-based line (or record number) in the input; ``extra`` is a
JSON object text holding every key the format does not map to a canonical column."""

REJECT_SCHEMA = pa.schema(
    [pa.field("line", pa.int64()), pa.field("reason", pa.string()), pa.field("record", pa.string())]
)
"""Records a reader could not turn into an item: where, why, and (a bounded copy of) what."""

MAX_REJECT_RECORD_CHARS = 4096


class ReadError(Exception):
    """The input as a whole cannot be read (not one bad record): the CLI exits 2 with this."""


@dataclass(frozen=True)
class Batch:
    items: pa.Table
    rejects: pa.Table


@dataclass(frozen=True)
class StagedTables:
    """Staged items that a reader parsed into temporary tables of a DuckDB connection.

    Normalising and storing them then never leaves DuckDB: no Arrow copy of every batch on its
    way out of one connection and into another (1M CSV posts, back to back: 9.1 → 6.5 s;
    bench/RESULTS.md).
    """

    rows: int
    rejects: pa.Table
    select: Callable[[int, int], str]
    """SQL giving the staged columns (``STAGED_SCHEMA``'s) of the rows numbered from the first
    argument up to the second, excluded, in no particular order."""
    tables: tuple[str, ...]

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        for table in self.tables:
            con.execute(f"DROP TABLE IF EXISTS {table}")


@dataclass(frozen=True)
class InputDocument:
    """One input: a local file, or a document fetched from a URL and held in memory."""

    name: str
    path: Path | None = None
    content: bytes | None = None
    content_type: str | None = None

    def open(self) -> IO[bytes]:
        if self.content is not None:
            return io.BytesIO(self.content)
        assert self.path is not None
        return self.path.open("rb")

    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        assert self.path is not None
        return self.path.stat().st_size

    def head(self, n: int = 8192) -> bytes:
        with self.open() as handle:
            return handle.read(n)

    def read_bounded(self, limit: int) -> bytes:
        """The whole document, refusing one larger than ``limit`` bytes before reading it."""
        size = self.size()
        if size > limit:
            raise ReadError(f"{self.name}: {size} bytes is over the limit of {limit} bytes")
        with self.open() as handle:
            return handle.read(limit + 1)


def read_local(path: Path, limit: int) -> bytes:
    """A local file's bytes, refusing a missing file or one over ``limit`` bytes."""
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    return InputDocument(str(path), path=path).read_bounded(limit)


class Reader(Protocol):
    """The interface a reader implements; register it through the ``fimiwatch_readers`` hook."""

    name: ClassVar[str]
    """The ``--format`` value, e.g. ``items-jsonl``."""
    platform: ClassVar[str]
    """Platform given to items whose record names none."""
    requires_published_at: ClassVar[bool]
    """False only for formats whose records may lack a date (profiles)."""

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        """Confidence 0–100 that a document with this name and first bytes is in this format."""
        ...

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        """Yield batches of staged items and rejects; raise :class:`ReadError` if unreadable."""
        ...


@runtime_checkable
class StagesInDuckDB(Protocol):
    """A reader that can also stage a document straight into a DuckDB connection."""

    def stage(
        self, con: duckdb.DuckDBPyConnection, document: InputDocument, settings: IngestSettings
    ) -> StagedTables:
        """Parse ``document`` into temporary tables of ``con`` (call outside a transaction:
        rows of tables created inside one are not numbered from zero)."""
        ...


def in_batches(table: pa.Table, rows: int) -> pa.Table:
    """The same table in record batches of at most ``rows``: DuckDB scans an Arrow table one
    record batch per thread, so one huge batch would parse on a single core."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows), table.schema)


def clip(value: str, limit: int = MAX_REJECT_RECORD_CHARS) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def clean_text(value: str) -> str:
    """Replace lone surrogates (from hostile JSON escapes) that Arrow and orjson refuse."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return orjson.dumps(value).decode()


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [part for part in value.split() if part]
    if isinstance(value, list | tuple):
        return [text for text in (_as_text(v) for v in value) if text]
    return [_as_text(value) or ""]


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # lone surrogates deep inside: escape them instead
        return json.dumps(value, default=str, ensure_ascii=True)


def staged_row(record: Mapping[str, Any], line: int) -> dict[str, Any]:
    """Map one record (canonical keys, anything else goes to ``extra``) to a staged row."""
    row: dict[str, Any] = {"line": line}
    for key in TEXT_COLUMNS:
        row[key] = _as_text(record.get(key))
    for key in LIST_COLUMNS:
        row[key] = _as_list(record.get(key))
    extra = {k: v for k, v in record.items() if k not in ITEM_KEYS}
    row["extra"] = _json_text(extra) if extra else None
    return row


def make_batch(
    records: Iterable[tuple[int, Mapping[str, Any]]],
    rejects: Iterable[tuple[int | None, str, str]] = (),
) -> Batch:
    """Build a batch from ``(line, record)`` pairs and ``(line, reason, raw)`` rejects."""
    rows = [staged_row(record, line) for line, record in records]
    items = pa.Table.from_pylist(rows, schema=STAGED_SCHEMA)
    reject_rows = [
        {"line": line, "reason": reason, "record": clip(raw)} for line, reason, raw in rejects
    ]
    return Batch(items, pa.Table.from_pylist(reject_rows, schema=REJECT_SCHEMA))
