"""The embedded DuckDB store: open, migrate, transact, and move Arrow tables in and out."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from fimiwatch.config import Settings
from fimiwatch.migrations import MIGRATIONS


class StoreError(Exception):
    """The store cannot be opened or used (locked by another process, corrupt, newer schema)."""


_generation = 0
_generation_lock = threading.Lock()


def data_generation() -> int:
    """A number that changes whenever this process commits a change to a store: the key for
    caches of what is read from it (the web app's). DuckDB lets no other process write a store
    this one has open, so no change can come from outside unnoticed."""
    return _generation


def data_changed() -> None:
    """Tell caches that data changed; :meth:`Store.transaction` calls it after each commit, and
    any other writer must call it after committing."""
    global _generation
    with _generation_lock:  # the watcher and the web app it serves commit from two threads
        _generation += 1


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """``table`` readable as ``name`` in ``con``'s SQL for the block's duration."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


class Store:
    """One DuckDB database file holding every canonical table.

    DuckDB takes a file lock, so one process writes at a time; every multi-statement change
    runs inside :meth:`transaction`, which makes a killed process leave no half-written batch.
    """

    def __init__(self, path: Path | str, settings: Settings | None = None) -> None:
        self.path = Path(path)
        self.settings = settings or Settings(db=self.path)
        config: dict[str, Any] = {
            "memory_limit": self.settings.duckdb_memory_limit,
            # Replaying the WAL of a killed process (schema changes not yet checkpointed)
            # autoloads core_functions; with autoinstall on, DuckDB 2.0 tries to download that
            # statically linked extension first and fails offline, leaving the store unopenable.
            "autoinstall_known_extensions": False,
        }
        if self.settings.duckdb_threads:
            config["threads"] = self.settings.duckdb_threads
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), config=config)
        except duckdb.IOException as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        self.con.execute("SET TimeZone = 'UTC'")
        self.migrate()

    def close(self) -> None:
        self.con.close()

    def on_cursor(self) -> Store:
        """This store read through a cursor (a connection of its own), for a thread beside the
        one that writes (the web app served from ``fimiwatch watch``); close it when done."""
        reader = copy.copy(self)
        reader.con = self.con.cursor()
        return reader

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        version = self.scalar("SELECT max(version) FROM schema_migrations")
        return int(version) if version is not None else 0

    def migrate(self) -> None:
        """Apply every migration newer than the store's version, each in its own transaction."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMPTZ)"
        )
        current = self.schema_version
        latest = MIGRATIONS[-1][0]
        if current > latest:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this fimiwatch ({latest})"
            )
        for version, description, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description]
                )

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
        data_changed()

    def registered(self, name: str, table: pa.Table) -> AbstractContextManager[None]:
        """``table`` readable as ``name`` in SQL for the block's duration."""
        return registered(self.con, name, table)

    def arrow(self, sql: str, params: list[Any] | Mapping[str, Any] | None = None) -> pa.Table:
        """Run a query and return its result as an Arrow table."""
        if params is None:
            return self.con.sql(sql).to_arrow_table()
        return self.con.sql(sql, params=params).to_arrow_table()

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts (for small results: summaries, listings)."""
        return query_rows(self.con, sql, params)

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def counts(self) -> dict[str, int]:
        """Row counts of the canonical tables, for summaries."""
        tables = ("items", "accounts", "sources", "watchlist", "findings", "quarantine")
        return {name: int(self.scalar(f"SELECT count(*) FROM {name}")) for name in tables}


def query_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    """A query's rows as dicts, on a connection or a cursor (the web app reads on one cursor
    per request)."""
    result = con.execute(sql, params or [])
    names = [column[0] for column in result.description or []]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (for names DuckDB cannot take as parameters)."""
    return "'" + text.replace("'", "''") + "'"


def open_store(settings: Settings) -> Store:
    return Store(settings.db, settings)
