from __future__ import annotations

from pathlib import Path

import pytest

from fimiwatch.migrations import MIGRATIONS
from fimiwatch.store import Store, StoreError


def test_migrations_apply_once(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        assert store.schema_version == MIGRATIONS[-1][0]
    with Store(db) as store:
        assert store.scalar("SELECT count(*) FROM schema_migrations") == len(MIGRATIONS)
        assert set(store.counts()) >= {"items", "accounts", "sources", "findings", "quarantine"}


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        store.con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    with pytest.raises(StoreError, match="newer than this fimiwatch"):
        Store(db)


def test_arrow_out(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        table = store.arrow("SELECT 1 AS one")
        assert table.column("one").to_pylist() == [1]


def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(RuntimeError), store.transaction() as con:
            con.execute("INSERT INTO sources (source, affiliation) VALUES ('x', 'unknown')")
            raise RuntimeError("boom")
        assert store.scalar("SELECT count(*) FROM sources") == 0


def test_text_key_migration_backfills_what_ingest_computes(tmp_path: Path) -> None:
    """A store made before items.text_key gets the key its items would get at ingest."""
    import duckdb

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR,"
        " applied_at TIMESTAMPTZ)"
    )
    for version, description, sql in MIGRATIONS[:3]:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description])
    con.execute(
        "INSERT INTO items (id, platform, text, content_hash, ingest_id) VALUES "
        "('a', 'other', 'Hello @bob   WORLD', 'h1', 1), ('b', 'other', '@only', 'h2', 1),"
        " ('c', 'other', NULL, 'h3', 1)"
    )
    con.close()
    with Store(db) as store:
        keys = dict(store.con.execute("SELECT id, text_key FROM items").fetchall())
        assert keys == {"a": store.scalar("SELECT hash('hello world')"), "b": None, "c": None}
