"""Readers for tabular post exports: items JSONL/CSV, the QUT toolkit CSV, Twitter/X IO CSV.

These carry millions of rows, so they parse in DuckDB (an in-memory connection of their own,
apart from the store) and never loop per row in Python. Physical line numbers for the
quarantine come from the vectorised splitters in ``records.py``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import duckdb
import numpy as np
import pyarrow as pa

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import (
    ITEM_KEYS,
    LIST_COLUMNS,
    MAX_REJECT_RECORD_CHARS,
    REJECT_SCHEMA,
    STAGED_SCHEMA,
    TEXT_COLUMNS,
    Batch,
    InputDocument,
    ReadError,
    StagedTables,
    in_batches,
)
from fimiwatch.ingest.jsondoc import JsonTooDeep, loads_bounded
from fimiwatch.ingest.records import BOM, CsvLayout, csv_layout, iter_line_chunks
from fimiwatch.store import registered, sql_literal

BATCH_ROWS = 250_000
_SCANNED, _LINES = "csv_scanned", "csv_lines"
_REJECTS, _REJECT_SCANS = "csv_reject_errors", "csv_reject_scans"
PARSE_ROWS = 16_384
"""Record-batch size for JSON parsing in DuckDB (small batches keep every core busy)."""


def _parser() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"memory_limit": "1GB"})
    con.execute("SET TimeZone = 'UTC'")
    return con


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _header(head: bytes) -> list[str]:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    return [column.strip().strip('"').strip() for column in first.rstrip("\r").split(",")]


def _list_sql(column: str) -> str:
    """A JSON array (``["a","b"]``), a bracketed list (``[a, 'b']``) or space-separated text.

    The common path is one plain split: this runs once per row of big files, and the shared
    normalisation trims elements and drops empty ones afterwards.
    """
    bracketed = f"trim(trim(trim({column}), '[]'), ' ''\"')"
    return f"""CASE
        WHEN NOT starts_with(ltrim({column}), '[') THEN string_split({column}, ' ')
        WHEN json_valid({column}) THEN json_extract_string({column}, '$[*]')
        ELSE string_split(regexp_replace({bracketed}, '[''"]?\\s*,\\s*[''"]?', ',', 'g'), ',')
    END"""


def _extra_sql(columns: list[str], known: set[str]) -> str:
    """A JSON object of the columns no canonical key takes, or NULL when all are empty."""
    unknown = [c for c in columns if c not in known]
    if not unknown:
        return "CAST(NULL AS VARCHAR)"
    pairs = ", ".join(f"{sql_literal(c)}, {_quote(c)}" for c in unknown)
    return f"nullif(CAST(json_merge_patch('{{}}', json_object({pairs})) AS VARCHAR), '{{}}')"


class ItemsJsonlReader:
    """Items as JSON Lines, one object per line, keys as in the DESIGN contract."""

    name: ClassVar[str] = "items-jsonl"
    platform: ClassVar[str] = "other"
    requires_published_at: ClassVar[bool] = True

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        lowered = name.lower()
        if lowered.endswith((".jsonl", ".ndjson", ".jsonl.txt")):
            return 90
        first = head.removeprefix(BOM).lstrip().split(b"\n", 1)[0]
        if first.startswith(b"{") and b'"published_at"' in first:
            return 60
        return 0

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        con = _parser()
        limit = settings.max_record_bytes
        depth = settings.max_json_depth
        sql = _jsonl_sql()
        with document.open() as handle:
            for chunk in iter_line_chunks(handle, settings.chunk_bytes, limit):
                lines, numbers, deep = _without_deep(chunk.lines, chunk.numbers, depth)
                chunk_table = pa.table({"line": numbers, "raw": lines})
                con.register("chunk", in_batches(chunk_table, PARSE_ROWS))
                batch = _split(con.sql(sql).to_arrow_table())
                con.unregister("chunk")
                rejects = _with_oversize(batch.rejects, chunk.oversize, limit)
                yield Batch(batch.items, _with_rejects(rejects, deep))


def _jsonl_sql() -> str:
    """Three JSON parses per clean line: the text keys at once, the list keys at once, and
    the key list (to keep unknown keys in ``extra``). Failures are explained only for the
    lines that fail, so clean lines never pay for the diagnosis.
    """
    known = "[" + ", ".join(sql_literal(k) for k in sorted(ITEM_KEYS)) + "]"
    removal = "{" + ",".join(f'"{k}":null' for k in sorted(ITEM_KEYS)) + "}"
    text_paths = "[" + ", ".join(sql_literal(f"$.{k}") for k in TEXT_COLUMNS) + "]"
    list_paths = "[" + ", ".join(sql_literal(f"$.{k}") for k in LIST_COLUMNS) + "]"
    columns = ",\n".join(f"v[{i}] AS {k}" for i, k in enumerate(TEXT_COLUMNS, start=1))
    lists = ",\n".join(
        f"""CASE
                WHEN l[{i}] IS NULL OR json_type(l[{i}]) = 'NULL' THEN NULL
                WHEN json_type(l[{i}]) = 'ARRAY' THEN json_extract_string(l[{i}], '$[*]')
                WHEN json_type(l[{i}]) = 'VARCHAR' THEN string_split(trim(l[{i}]->>'$'), ' ')
                ELSE [l[{i}]->>'$']
            END AS {k}"""
        for i, k in enumerate(LIST_COLUMNS, start=1)
    )
    return rf"""
    WITH decoded AS (
        SELECT line, raw, TRY(decode(raw)) AS txt FROM chunk
    ), extracted AS (
        SELECT *,
            regexp_matches(txt, '^\s*\{{') AS is_object,
            TRY(json_extract_string(txt, {text_paths})) AS v,
            TRY(json_extract(txt, {list_paths})) AS l
        FROM decoded
        WHERE txt IS NULL OR NOT regexp_full_match(txt, '[ \t\r\n]*')  -- JSON's whitespace only
    ), checked AS (
        SELECT *, v IS NOT NULL AND is_object AS ok FROM extracted
    )
    SELECT line,
        CASE
            WHEN ok THEN NULL
            WHEN txt IS NULL THEN 'not valid UTF-8'
            WHEN NOT json_valid(txt) THEN 'invalid JSON'
            ELSE 'not a JSON object'
        END AS error,
        CASE WHEN NOT ok
            THEN left(coalesce(txt, CAST(raw AS VARCHAR)), {MAX_REJECT_RECORD_CHARS}) END AS record,
        {columns},
        {lists},
        CASE WHEN ok AND NOT list_has_all({known}, json_keys(txt))
            THEN nullif(CAST(json_merge_patch(txt, '{removal}') AS VARCHAR), '{{}}') END AS extra
    FROM checked
    """


def _with_oversize(rejects: pa.Table, oversize: list[tuple[int, bytes]], limit: int) -> pa.Table:
    reason = f"record over {limit} bytes"
    return _with_rejects(rejects, [(line, reason, prefix) for line, prefix in oversize])


def _with_rejects(rejects: pa.Table, more: list[tuple[int, str, bytes]]) -> pa.Table:
    if not more:
        return rejects
    extra = pa.table(
        {
            "line": [line for line, _, _ in more],
            "reason": [reason for _, reason, _ in more],
            "record": [
                raw[:MAX_REJECT_RECORD_CHARS].decode("utf-8", "replace") + "…" for _, _, raw in more
            ],
        },
        schema=REJECT_SCHEMA,
    )
    return pa.concat_tables([rejects, extra]).sort_by("line")


def _without_deep(
    lines: pa.BinaryArray, numbers: np.ndarray, max_depth: int
) -> tuple[pa.BinaryArray, np.ndarray, list[tuple[int, str, bytes]]]:
    """Take out lines whose JSON nests deeper than ``max_depth`` (DuckDB sets no bound, and
    such values in ``extra`` break later readers). Only lines with more opening brackets
    than the bound can be that deep, so only those few are parsed here."""
    opening = _opening_brackets(lines)
    deep: list[tuple[int, str, bytes]] = []
    drop = np.zeros(len(lines), dtype=bool)
    for index in np.flatnonzero(opening > max_depth):
        raw = lines[int(index)].as_py()
        try:
            loads_bounded(raw, max_depth)
        except JsonTooDeep as error:
            deep.append((int(numbers[index]), str(error), raw))
            drop[index] = True
        except ValueError:
            pass  # not JSON at all: the SQL names the reason
    if not deep:
        return lines, numbers, deep
    return lines.filter(pa.array(~drop)), numbers[~drop], deep


def _opening_brackets(lines: pa.BinaryArray) -> np.ndarray:
    """Count of ``{`` and ``[`` bytes per line, in one numpy pass over the chunk's buffer."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    if len(lines) == 0:
        return np.zeros(0, dtype=np.int64)
    data = np.frombuffer(lines.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    opening = ((data == 0x7B) | (data == 0x5B)).view(np.uint8)
    # Lines are never empty (each keeps its end of line), so reduceat sums each one.
    return np.add.reduceat(opening, offsets[:-1] - offsets[0], dtype=np.int64)


def _split(parsed: pa.Table) -> Batch:
    """Separate parse errors from staged rows."""
    error = parsed.column("error")
    failed = error.is_valid()
    rejects = pa.table(
        {
            "line": parsed.column("line").filter(failed),
            "reason": error.filter(failed),
            "record": parsed.column("record").filter(failed),
        },
        schema=REJECT_SCHEMA,
    )
    return Batch(_conform(parsed.filter(error.is_null())), rejects)


class _CsvReader:
    """Shared CSV machinery: DuckDB's parser, with rejects and physical line numbers."""

    name: ClassVar[str]
    platform: ClassVar[str] = "other"
    requires_published_at: ClassVar[bool] = True
    required: ClassVar[tuple[str, ...]]

    renames: ClassVar[dict[str, str]] = {}
    """Canonical text column → the CSV column holding it."""
    lists: ClassVar[dict[str, str]] = {}
    """Canonical list column → the CSV column holding it."""

    def plan(self, columns: list[str]) -> tuple[dict[str, str], set[str]]:
        """Canonical column → SQL over the CSV's text columns, and the CSV columns it uses
        (the rest go to ``extra``)."""
        mapping = {k: _quote(v) for k, v in self.renames.items() if v in columns}
        mapping.update({k: _list_sql(_quote(v)) for k, v in self.lists.items() if v in columns})
        used = {v for v in (*self.renames.values(), *self.lists.values()) if v in columns}
        return mapping, used

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        return 85 if all(c in _header(head) for c in cls.required) else 0

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        con = _parser()
        staged = self.stage(con, document, settings)
        rejects = staged.rejects
        for first in range(0, staged.rows, BATCH_ROWS):
            rows = con.sql(f"{staged.select(first, first + BATCH_ROWS)} ORDER BY line")
            yield Batch(_conform(rows.to_arrow_table()), rejects)
            rejects = REJECT_SCHEMA.empty_table()
        if staged.rows == 0 and rejects.num_rows:
            yield Batch(STAGED_SCHEMA.empty_table(), rejects)

    def stage(
        self, con: duckdb.DuckDBPyConnection, document: InputDocument, settings: IngestSettings
    ) -> StagedTables:
        with _local_path(document) as path:
            return self._stage(con, document.name, path, settings)

    def _stage(
        self, con: duckdb.DuckDBPyConnection, name: str, path: Path, settings: IngestSettings
    ) -> StagedTables:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
        columns = _header(head)
        missing = [c for c in self.required if c not in columns]
        if missing:
            raise ReadError(f"{name}: line 1: missing required columns: {', '.join(missing)}")
        if head.split(b"\n", 1)[0].count(b'"') % 2:
            # DuckDB would take the rest of the file for the header and read no rows at all.
            raise ReadError(f"{name}: line 1: unterminated quote in the header")
        column_types = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in columns)
        source = (
            f"read_csv({sql_literal(str(path))}, header=true, delim=',', quote='\"', escape='\"', "
            f"store_rejects=true, rejects_table='{_REJECTS}', rejects_scan='{_REJECT_SCANS}', "
            f"max_line_size={settings.max_record_bytes}, "
            f"auto_detect=false, columns={{{column_types}}})"
        )
        # The record layout is a numpy pass over the file that releases the GIL: it runs
        # while DuckDB parses the same file.
        with ThreadPoolExecutor(1, thread_name_prefix="csv-layout") as pool:
            layout = pool.submit(_layout, path, settings)
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {_SCANNED} AS SELECT * FROM {source}")
                errors = con.sql(
                    "SELECT min(byte_position) AS byte_position, line, "
                    "string_agg(DISTINCT error_type || ': ' || error_message, '; ') AS reason, "
                    f"left(any_value(csv_line), {MAX_REJECT_RECORD_CHARS}) AS record "
                    f"FROM {_REJECTS} GROUP BY line ORDER BY line"
                ).to_arrow_table()
            except duckdb.Error as exc:
                raise ReadError(f"{name}: not a readable CSV file: {exc}") from exc
            finally:
                con.execute(
                    f"DROP TABLE IF EXISTS {_REJECTS}; DROP TABLE IF EXISTS {_REJECT_SCANS}"
                )
            try:
                total = _numbered_rows(con)
                lines, rejected_lines = _record_lines(layout.result(), errors, total)
                numbered = pa.table({"ordinal": np.arange(total, dtype=np.int64), "line": lines})
                with registered(con, "csv_lines_arrow", numbered):
                    con.execute(
                        f"CREATE OR REPLACE TEMP TABLE {_LINES} AS SELECT * FROM csv_lines_arrow"
                    )
            except BaseException:
                con.execute(f"DROP TABLE IF EXISTS {_SCANNED}; DROP TABLE IF EXISTS {_LINES}")
                raise
        rejects = pa.table(
            {
                "line": rejected_lines,
                "reason": errors.column("reason"),
                "record": errors.column("record"),
            },
            schema=REJECT_SCHEMA,
        )
        mapping, used = self.plan(columns)
        staged_columns = ",\n".join(
            f"{mapping.get(column, 'NULL')} AS {column}"
            for column in STAGED_SCHEMA.names
            if column not in {"line", "extra"}
        )
        extra = _extra_sql(columns, used)

        def select(first: int, last: int) -> str:
            # A temporary table's rowid numbers its rows from zero in insertion order (it was
            # created outside any transaction), and both range filters prune row groups.
            return f"""
                SELECT {staged_columns}, {extra} AS extra, numbered.line
                FROM (SELECT rowid AS ordinal, * FROM {_SCANNED}
                      WHERE rowid >= {first} AND rowid < {last}) scanned
                JOIN (SELECT * FROM {_LINES} WHERE ordinal >= {first} AND ordinal < {last})
                    numbered USING (ordinal)"""

        return StagedTables(total, rejects, select, (_SCANNED, _LINES))


def _numbered_rows(con: duckdb.DuckDBPyConnection) -> int:
    """The staged rows' count, once it is sure that their rowids number them from zero."""
    count, first, last = con.sql(
        f"SELECT count(*), min(rowid), max(rowid) FROM {_SCANNED}"
    ).fetchall()[0]
    if count and (first, last) != (0, count - 1):
        raise RuntimeError("CSV staging ran inside a transaction: its rows are not numbered")
    return int(count)


def _conform(table: pa.Table) -> pa.Table:
    return pa.table(
        {n: table.column(n).cast(STAGED_SCHEMA.field(n).type) for n in STAGED_SCHEMA.names},
        schema=STAGED_SCHEMA,
    )


def _layout(path: Path, settings: IngestSettings) -> CsvLayout:
    with path.open("rb") as handle:
        return csv_layout(handle, settings.chunk_bytes)


def _record_lines(layout: CsvLayout, errors: pa.Table, total: int) -> tuple[np.ndarray, np.ndarray]:
    """Physical line of each accepted row and of each rejected one, from the record starts.

    DuckDB's own ``line`` counts records, not lines (a quoted newline earlier in the file
    shifts it), so it is used only as a fallback. Its ``byte_position`` lies inside the
    rejected record or, for missing columns, just past its end: ``byte_position - 1`` always
    falls within the record.
    """
    starts, lines = layout.starts[1:], layout.lines[1:]
    duckdb_lines = errors.column("line").to_numpy(zero_copy_only=False).astype(np.int64)
    rejected_at = errors.column("byte_position").to_numpy(zero_copy_only=False)
    index = np.searchsorted(starts, rejected_at.astype(np.int64) - 1, side="right") - 1
    keep = np.ones(len(starts), dtype=bool)
    keep[index[index >= 0]] = False
    accepted = lines[keep]
    if len(accepted) != total:
        # The layout disagrees with DuckDB (e.g. stray quotes): number the records instead,
        # past the ones DuckDB rejected.
        numbers = np.arange(2, total + len(duckdb_lines) + 2, dtype=np.int64)
        return np.setdiff1d(numbers, duckdb_lines)[:total], duckdb_lines
    placed = index >= 0
    rejected = duckdb_lines.copy()
    rejected[placed] = lines[index[placed]]
    return accepted, rejected


@contextlib.contextmanager
def _local_path(document: InputDocument) -> Iterator[Path]:
    """DuckDB reads CSV from a path; spool fetched documents to a private temporary file."""
    if document.path is not None:
        yield document.path
        return
    fd, name = tempfile.mkstemp(suffix=".csv", prefix="fimiwatch-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(document.content or b"")
        yield Path(name)
    finally:
        os.unlink(name)


class ItemsCsvReader(_CsvReader):
    """Items as CSV with the JSONL key names as columns."""

    name: ClassVar[str] = "items-csv"
    required: ClassVar[tuple[str, ...]] = ("id", "published_at")

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        return 70 if all(c in _header(head) for c in cls.required) else 0

    def plan(self, columns: list[str]) -> tuple[dict[str, str], set[str]]:
        mapping = {c: _quote(c) for c in TEXT_COLUMNS if c in columns}
        mapping.update({c: _list_sql(_quote(c)) for c in LIST_COLUMNS if c in columns})
        return mapping, set(mapping)


class QutCsvReader(_CsvReader):
    """The coordination-network-toolkit's CSV (QUT Digital Observatory); epoch timestamps."""

    name: ClassVar[str] = "qut-csv"
    required: ClassVar[tuple[str, ...]] = ("message_id", "user_id", "message", "timestamp")
    renames: ClassVar[dict[str, str]] = {
        "id": "message_id",
        "account_id": "user_id",
        "account_name": "username",
        "repost_of": "repost_id",
        "reply_to": "reply_id",
        "text": "message",
        "published_at": "timestamp",
    }
    lists: ClassVar[dict[str, str]] = {"links": "urls"}


class TwitterIoReader(_CsvReader):
    """Twitter/X information-operations archive CSV (``tweet_time`` is UTC without a zone)."""

    name: ClassVar[str] = "twitter-io"
    platform: ClassVar[str] = "twitter"
    required: ClassVar[tuple[str, ...]] = ("tweetid", "userid", "tweet_text", "tweet_time")
    renames: ClassVar[dict[str, str]] = {
        "id": "tweetid",
        "account_id": "userid",
        "account_name": "user_screen_name",
        "text": "tweet_text",
        "lang": "tweet_language",
        "reply_to": "in_reply_to_tweetid",
        "repost_of": "retweet_tweetid",
    }
    lists: ClassVar[dict[str, str]] = {
        "hashtags": "hashtags",
        "links": "urls",
        "mentions": "user_mentions",
    }

    def plan(self, columns: list[str]) -> tuple[dict[str, str], set[str]]:
        mapping, used = super().plan(columns)
        time = f"nullif(trim({_quote('tweet_time')}), '')"
        mapping["published_at"] = (
            f"CASE WHEN regexp_matches({time}, '([zZ]|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
            f"THEN {time} ELSE {time} || 'Z' END"
        )
        return mapping, used | {"tweet_time"}
