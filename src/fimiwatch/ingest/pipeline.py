"""Ingest one input into the store: read, normalise, quarantine, dedupe, insert — atomically.

Each input is ingested inside one transaction, so a process killed mid-way leaves the store as
it was before that input. Rejected records are written to the ``quarantine`` table in the same
transaction, then appended to the quarantine JSONL file once committed: nothing is lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from fimiwatch import plugins
from fimiwatch.config import Settings
from fimiwatch.ingest.base import (
    Batch,
    InputDocument,
    Reader,
    ReadError,
    StagedTables,
    StagesInDuckDB,
    in_batches,
)
from fimiwatch.ingest.normalise import normalise_sql
from fimiwatch.quarantine import append_quarantine
from fimiwatch.store import Store, sql_literal

Progress = Callable[[int], None]
Bookkeeping = Callable[[duckdb.DuckDBPyConnection, int], None]

INSERT_ROWS = 262_144
"""Normalised rows gathered before one append to ``items`` (about 80 MB of Arrow: larger
appends are no faster, and the batch is held twice while it is written)."""
STAGED_BLOCK_ROWS = 2_097_152
"""Rows of a staged input normalised and stored per statement (larger blocks are a little
faster; each block reports progress)."""
SCAN_ROWS = 65_536
"""Record-batch size of staged Arrow tables handed to DuckDB, so that normalisation uses all
its threads (appends, by contrast, are fastest from large batches)."""


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
    assert document.path is not None
    with document.path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def ingest_document(
    store: Store,
    document: InputDocument,
    reader: Reader,
    source: str | None = None,
    progress: Progress | None = None,
    *,
    bookkeeping: Bookkeeping | None = None,
) -> IngestSummary:
    """Ingest one document in a single transaction and return what happened to its records.

    ``bookkeeping`` (the monitor's note that this article or file is done) runs inside the same
    transaction with the connection and the ingest id, so it commits with the items or not at all.

    Valid records go straight into ``items`` batch by batch (one write, no staging copy);
    once the whole input is in, duplicates and id conflicts are found with set operations
    and taken back out. The transaction makes the retraction invisible to other readers.
    """
    started = datetime.now(UTC)
    # hashlib releases the GIL on large reads: the file's digest is computed beside the ingest.
    with ThreadPoolExecutor(1, thread_name_prefix="digest") as pool:
        digest = pool.submit(_digest, document)
        return _ingest(store, document, reader, source, progress, bookkeeping, started, digest)


def _ingest(
    store: Store,
    document: InputDocument,
    reader: Reader,
    source: str | None,
    progress: Progress | None,
    bookkeeping: Bookkeeping | None,
    started: datetime,
    digest: Future[str],
) -> IngestSummary:
    settings = store.settings
    con = store.con
    params = {
        "default_platform": reader.platform,
        "source_override": source,
        "require_time": reader.requires_published_at,
        "max_text": settings.ingest.max_text_chars,
    }
    # Readers that parse with DuckDB stage the whole input in the store's connection first,
    # outside the transaction (temporary tables only), so that it is normalised and stored
    # by SQL alone.
    staged = (
        reader.stage(con, document, settings.ingest) if isinstance(reader, StagesInDuckDB) else None
    )
    try:
        with store.transaction():
            ingest_id = int(store.scalar("SELECT nextval('ingest_id_seq')"))
            items_row = _table_row(con, "items", {"ingest_id": str(ingest_id)})
            quarantine_row = _table_row(
                con,
                "quarantine",
                {"ingest_id": str(ingest_id), "input": sql_literal(document.name)},
            )
            rows = _Rows(con, params, items_row, quarantine_row, progress)
            if staged is None:
                records = rows.insert_batches(reader.read(document, settings.ingest))
            else:
                records = rows.insert_staged(staged)
            added, duplicates = _retract_repeats(con, ingest_id, document.name)
            _assign_sources_by_domain(con, ingest_id)
            _update_accounts(con, ingest_id)
            rejected = int(
                store.scalar("SELECT count(*) FROM quarantine WHERE ingest_id = ?", [ingest_id])
            )
            con.execute(
                "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?)",
                [
                    ingest_id, document.name, digest.result(), reader.name, source, started,
                    records, added, duplicates, rejected,
                ],
            )  # fmt: skip
            if bookkeeping is not None:
                bookkeeping(con, ingest_id)
    finally:
        if staged is not None:
            staged.drop(con)
    append_quarantine(store, settings.quarantine_path, ingest_id)
    return IngestSummary(
        document.name, reader.name, records, added, duplicates, rejected, ingest_id
    )


class _Rows:
    """Normalises staged rows and writes them to ``items``, or to the quarantine when rejected,
    inside the caller's transaction; counts them and reports progress."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        params: dict[str, Any],
        items_row: str,
        quarantine_row: str,
        progress: Progress | None,
    ) -> None:
        self.con, self.params, self.progress = con, params, progress
        self.items_row, self.quarantine_row = items_row, quarantine_row

    def insert_staged(self, staged: StagedTables) -> int:
        """Each block of rows by SQL: the normalised rows into ``items``; when fewer went in
        than the block holds, the rejected ones into the quarantine (a second pass, in which
        DuckDB computes only the columns a reject needs)."""
        for first in range(0, staged.rows, STAGED_BLOCK_ROWS):
            block = min(STAGED_BLOCK_ROWS, staged.rows - first)
            normalised = f"({normalise_sql(f'({staged.select(first, first + block)})')})"
            inserted = self.con.execute(
                f"INSERT INTO items SELECT {self.items_row} FROM {normalised} WHERE reject IS NULL",
                self.params,
            ).fetchall()[0][0]
            if inserted < block:
                self.con.execute(
                    f"""INSERT INTO quarantine SELECT {self.quarantine_row} FROM (
                        SELECT {_REJECTED_ROW}
                        FROM {normalised} WHERE reject IS NOT NULL)""",
                    self.params,
                )
            if self.progress:
                self.progress(block)
        self._quarantine(staged.rejects)
        if self.progress and staged.rejects.num_rows:
            self.progress(staged.rejects.num_rows)
        return staged.rows + staged.rejects.num_rows

    def insert_batches(self, batches: Iterable[Batch]) -> int:
        # Arrow data registered inside a transaction stays referenced until it ends (the
        # catalog keeps dropped views for rollback), so a large input would be held in memory
        # whole: batches are normalised on a cursor outside the transaction, and go into the
        # store as relations, which register nothing.
        scratch = self.con.cursor()
        normalise = normalise_sql("staged_batch")
        pending: list[pa.Table] = []
        records = 0
        for batch in batches:
            scratch.register("staged_batch", in_batches(batch.items, SCAN_ROWS))
            pending.append(scratch.sql(normalise, params=self.params).to_arrow_table())
            scratch.unregister("staged_batch")
            self._quarantine(batch.rejects)
            records += batch.items.num_rows + batch.rejects.num_rows
            if sum(t.num_rows for t in pending) >= INSERT_ROWS:
                self._flush(pending)
            if self.progress:
                self.progress(batch.items.num_rows + batch.rejects.num_rows)
        if pending:
            self._flush(pending)
        return records

    def _flush(self, pending: list[pa.Table]) -> None:
        """Write normalised rows in large appends: DuckDB pays per INSERT, not per row."""
        normalised = self.con.from_arrow(pa.concat_tables(pending).combine_chunks())
        normalised.filter("reject IS NULL").project(self.items_row).insert_into("items")
        normalised.filter("reject IS NOT NULL").project(_REJECTED_ROW).project(
            self.quarantine_row
        ).insert_into("quarantine")
        pending.clear()

    def _quarantine(self, rejects: pa.Table) -> None:
        if rejects.num_rows:
            self.con.from_arrow(rejects).project(self.quarantine_row).insert_into("quarantine")


def _table_row(con: duckdb.DuckDBPyConnection, table: str, constants: dict[str, str]) -> str:
    """A projection giving ``table``'s columns in order: each constant's SQL where given,
    the column of the same name otherwise (for positional ``insert_into``)."""
    names = [
        row[0] for row in con.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()
    ]
    return ", ".join(f"{constants[n]} AS {n}" if n in constants else n for n in names)


def _record_json(alias: str = "") -> str:
    """A bounded JSON copy of a rejected normalised record, for the quarantine."""
    a = f"{alias}." if alias else ""
    return (
        f"left(CAST(to_json(struct_pack(id := {a}id, source := {a}source, "
        f"platform := {a}platform, account_id := {a}account_id, title := {a}title, "
        f"text := left({a}text, 1000))) AS VARCHAR), 4096)"
    )


_REJECTED_ROW = f"line, reject AS reason, {_record_json()} AS record"
"""A normalised row that was rejected, as the quarantine's line, reason and record."""


def _retract_repeats(con: duckdb.DuckDBPyConnection, ingest_id: int, name: str) -> tuple[int, int]:
    """Take back this input's exact duplicates; quarantine ids reused for other content.

    A record is a duplicate when its (source, id) or its content was seen earlier in this input
    or is already stored with the same content; reusing a stored or earlier id for different
    content is a conflict, which goes to the quarantine. Returns (added, duplicates).

    Almost every record is new, so the exact comparison runs only on suspects: records whose
    64-bit hash of (source, id) or of the content occurs twice in this input or is stored
    already. Hashing lets one scan group ten million records without copying their strings.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE repeat_suspects AS
        WITH fresh AS (
            SELECT hash(coalesce(source, ''), id) AS key_hash, hash(content_hash) AS content_key
            FROM items WHERE ingest_id = $ingest
        )
        SELECT key_hash, content_key FROM fresh
        GROUP BY GROUPING SETS ((key_hash), (content_key)) HAVING count(*) > 1
        UNION ALL
        SELECT hash(coalesce(source, ''), id), NULL FROM items
        WHERE ingest_id <> $ingest AND id IN (SELECT id FROM items WHERE ingest_id = $ingest)
        UNION ALL
        SELECT NULL, hash(content_hash) FROM items
        WHERE ingest_id <> $ingest
            AND content_hash IN (SELECT content_hash FROM items WHERE ingest_id = $ingest)
        """,
        {"ingest": ingest_id},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE repeats AS
        WITH fresh AS (
            SELECT line, coalesce(source, '') AS source_key, id, content_hash
            FROM items
            WHERE ingest_id = $ingest AND (
                hash(coalesce(source, ''), id) IN (
                    SELECT key_hash FROM repeat_suspects WHERE key_hash IS NOT NULL)
                OR hash(content_hash) IN (
                    SELECT content_key FROM repeat_suspects WHERE content_key IS NOT NULL))
        ), repeated AS (
            SELECT source_key, id, arg_min(content_hash, line) AS first_hash,
                min(line) AS first_line
            FROM fresh GROUP BY source_key, id HAVING count(*) > 1
        ), stored AS (
            SELECT coalesce(source, '') AS source_key, id, any_value(content_hash) AS stored_hash
            FROM items
            WHERE ingest_id <> $ingest AND id IN (SELECT id FROM fresh)
            GROUP BY ALL
        ), repeated_content AS (
            SELECT content_hash, min(line) AS first_line
            FROM fresh GROUP BY content_hash HAVING count(*) > 1
        ), stored_content AS (
            SELECT DISTINCT content_hash FROM items
            WHERE ingest_id <> $ingest AND content_hash IN (SELECT content_hash FROM fresh)
        ), classified AS (
            SELECT f.line, f.id, r.first_line,
                CASE
                    WHEN f.line > r.first_line AND f.content_hash = r.first_hash THEN 'duplicate'
                    WHEN f.line > r.first_line THEN 'conflict-in-input'
                    WHEN s.stored_hash = f.content_hash THEN 'duplicate'
                    WHEN s.stored_hash IS NOT NULL THEN 'conflict-in-store'
                    WHEN f.line > c.first_line THEN 'duplicate'
                    WHEN k.content_hash IS NOT NULL THEN 'duplicate'
                END AS status
            FROM fresh f
            LEFT JOIN repeated r USING (source_key, id)
            LEFT JOIN stored s USING (source_key, id)
            LEFT JOIN repeated_content c USING (content_hash)
            LEFT JOIN stored_content k USING (content_hash)
        )
        SELECT * FROM classified WHERE status IS NOT NULL
        """,
        {"ingest": ingest_id},
    )
    con.execute(
        f"""
        INSERT INTO quarantine
        SELECT $ingest, $name, r.line,
            CASE r.status
                WHEN 'conflict-in-input' THEN 'id ' || r.id || ' already used at line '
                    || r.first_line || ' of this input for different content'
                ELSE 'id ' || r.id || ' is already stored for different content'
            END,
            {_record_json("i")}
        FROM repeats r JOIN items i ON i.ingest_id = $ingest AND i.line = r.line
        WHERE r.status LIKE 'conflict%'
        """,
        {"ingest": ingest_id, "name": name},
    )
    con.execute(
        "DELETE FROM items WHERE ingest_id = $ingest AND line IN (SELECT line FROM repeats)",
        {"ingest": ingest_id},
    )
    added = con.execute("SELECT count(*) FROM items WHERE ingest_id = ?", [ingest_id]).fetchall()[
        0
    ][0]
    duplicates = con.execute("SELECT count(*) FROM repeats WHERE status = 'duplicate'").fetchall()[
        0
    ][0]
    con.execute("DROP TABLE repeats; DROP TABLE repeat_suspects")
    return int(added), int(duplicates)


def _update_accounts(con: duckdb.DuckDBPyConnection, ingest_id: int) -> None:
    """Add this input's accounts, or update those already stored: one row per (platform,
    account_id), kept unique here rather than by an index (whose upkeep cost 2 s per 10M
    posts, more than the rest of this update)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE ingested_accounts AS
        SELECT platform, account_id, any_value(account_name) AS name,
            any_value(source) AS source, min(published_at) AS first_seen,
            max(published_at) AS last_seen, count(*) AS items
        FROM items WHERE ingest_id = ? AND account_id IS NOT NULL
        GROUP BY platform, account_id
        """,
        [ingest_id],
    )
    con.execute(
        """
        UPDATE accounts SET
            name = coalesce(new.name, accounts.name),
            source = coalesce(accounts.source, new.source),
            first_seen = least(accounts.first_seen, new.first_seen),
            last_seen = greatest(accounts.last_seen, new.last_seen),
            items = accounts.items + new.items
        FROM ingested_accounts new
        WHERE accounts.platform = new.platform AND accounts.account_id = new.account_id;
        INSERT INTO accounts
        SELECT new.* FROM ingested_accounts new
        ANTI JOIN accounts USING (platform, account_id);
        DROP TABLE ingested_accounts;
        """
    )


def _assign_sources_by_domain(con: duckdb.DuckDBPyConnection, ingest_id: int) -> None:
    """Give items that name no source the registry source whose domain their URL is on.

    The longest matching domain wins (``czech.cri.cn`` beats ``cri.cn``); on a tie a user's
    row beats the built-in registry, then the smaller key, so the choice is deterministic.
    """
    con.execute(
        r"""
        UPDATE items SET source = matched.source
        FROM (
            SELECT unsourced.row_id,
                first(s.source ORDER BY length(s.domain) DESC, s.loaded_from = 'builtin', s.source)
                    AS source
            FROM (
                SELECT rowid AS row_id,
                    regexp_replace(lower(regexp_extract(
                        url, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#@]+)', 1)), '^www\.', '') AS host
                FROM items
                WHERE ingest_id = $ingest AND source IS NULL AND url IS NOT NULL
            ) AS unsourced
            JOIN sources s ON s.domain IS NOT NULL
                AND (unsourced.host = s.domain OR ends_with(unsourced.host, '.' || s.domain))
            GROUP BY unsourced.row_id
        ) AS matched
        WHERE items.rowid = matched.row_id
        """,
        {"ingest": ingest_id},
    )
