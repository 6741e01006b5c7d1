"""What the monitor remembers in the store, so that a restart resumes where it stopped.

* ``watch_state``: per source (by location), the validators of the last answer (ETag,
  Last-Modified, a digest of the body), when it is next due, and its failures.
* ``watch_articles``: every article URL ever queued, with its state: queued (to fetch), done
  (ingested; never fetched again) or failed (given up after repeated fetch failures). A URL is
  marked done in the same transaction as its items, so a kill loses or repeats nothing.
* ``watch_progress``: named counters, e.g. the last ingest that detection has seen.

Folder files have their own table, kept by ``folders.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from fimiwatch.store import Store

MAX_ERROR_CHARS = 500
DETECTED_THROUGH = "detected_through_ingest"
"""Progress counter: the highest ingest id whose items detection has run over."""


@dataclass(frozen=True)
class SourceState:
    location: str
    name: str
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    next_due: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_ok: datetime | None = None
    last_polled: datetime | None = None


@dataclass(frozen=True)
class Link:
    """An article link found in a feed or page, with what the feed said about it."""

    url: str
    title: str | None = None
    published: str | None = None


@dataclass(frozen=True)
class QueuedArticle:
    url: str
    location: str
    title: str | None
    published: str | None
    attempts: int


_TIME = pa.timestamp("us", tz="UTC")
_STATE_SCHEMA = pa.schema(
    [
        ("location", pa.string()),
        ("name", pa.string()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("body_sha256", pa.string()),
        ("next_due", _TIME),
        ("failures", pa.int32()),
        ("last_error", pa.string()),
        ("last_error_at", _TIME),
        ("last_ok", _TIME),
        ("last_polled", _TIME),
    ]
)
_STATE_COLUMNS = _STATE_SCHEMA.names


def load_states(store: Store) -> dict[str, SourceState]:
    rows = store.rows(f"SELECT {', '.join(_STATE_COLUMNS)} FROM watch_state")
    return {row["location"]: SourceState(**row) for row in rows}


def save_states(con: duckdb.DuckDBPyConnection, states: Iterable[SourceState]) -> None:
    """Insert or replace the states (one statement, however many sources)."""
    table = pa.Table.from_pylist(
        [{name: getattr(s, name) for name in _STATE_COLUMNS} for s in states],
        schema=_STATE_SCHEMA,
    )
    if not table.num_rows:
        return
    updates = ", ".join(f"{name} = excluded.{name}" for name in _STATE_COLUMNS[1:])
    con.register("watch_state_new", table)
    try:
        con.execute(
            f"INSERT INTO watch_state SELECT * FROM watch_state_new "
            f"ON CONFLICT (location) DO UPDATE SET {updates}"
        )
    finally:
        con.unregister("watch_state_new")


def set_next_due(con: duckdb.DuckDBPyConnection, locations: list[str], when: datetime) -> None:
    if locations:
        con.execute(
            "UPDATE watch_state SET next_due = ? WHERE list_contains(?, location)",
            [when, locations],
        )


def queue_links(
    con: duckdb.DuckDBPyConnection, found: Iterable[tuple[str, Link]], now: datetime
) -> int:
    """Queue the links not seen before (by URL, from any source), each under the location of
    the source that listed it first; one statement for the whole round. Returns how many."""
    first: dict[str, tuple[str, Link]] = {}
    for location, link in found:
        first.setdefault(link.url, (location, link))
    rows = list(first.items())
    if not rows:
        return 0
    table = pa.table(
        {
            "url": [url for url, _ in rows],
            "location": [location for _, (location, _) in rows],
            "title": [link.title for _, (_, link) in rows],
            "published": [link.published for _, (_, link) in rows],
            "position": list(range(len(rows))),
        }
    )
    con.register("watch_links_new", table)
    try:
        inserted = con.execute(
            """
            INSERT INTO watch_articles (url, location, seq, state, title, published, queued_at)
            SELECT url, location, nextval('watch_article_seq'), 'queued', title, published, ?
            FROM (SELECT * FROM watch_links_new ORDER BY position)
            WHERE url NOT IN (SELECT url FROM watch_articles)
            ON CONFLICT (url) DO NOTHING
            RETURNING url
            """,
            [now],
        ).fetchall()
    finally:
        con.unregister("watch_links_new")
    return len(inserted)


def queued_articles(
    store: Store, locations: list[str], limit: int, not_tried_since: datetime
) -> list[QueuedArticle]:
    """The oldest queued articles of these sources, at most ``limit`` per source, skipping
    those already tried at or after ``not_tried_since`` (a failed fetch waits for the source's
    next round). One query, however many sources."""
    if not locations:
        return []
    rows = store.rows(
        """
        SELECT url, location, title, published, attempts FROM watch_articles
        WHERE state = 'queued' AND list_contains(?, location)
            AND (last_attempt_at IS NULL OR last_attempt_at < ?)
        QUALIFY row_number() OVER (PARTITION BY location ORDER BY seq) <= ?
        ORDER BY seq
        """,
        [locations, not_tried_since, limit],
    )
    return [QueuedArticle(**row) for row in rows]


def backlogged(store: Store, locations: list[str]) -> list[str]:
    """Of these sources, those with queued articles never tried yet."""
    if not locations:
        return []
    rows = store.con.execute(
        "SELECT DISTINCT location FROM watch_articles "
        "WHERE state = 'queued' AND attempts = 0 AND list_contains(?, location)",
        [locations],
    ).fetchall()
    return [row[0] for row in rows]


def mark_article_done(
    con: duckdb.DuckDBPyConnection,
    article: QueuedArticle,
    final_url: str,
    ingest_id: int | None,
    now: datetime,
) -> None:
    """The article is in the store: never fetch it (nor the URL it redirected to) again."""
    con.execute(
        "UPDATE watch_articles SET state = 'done', attempts = attempts + 1, "
        "last_attempt_at = ?, ingest_id = ?, done_at = ?, last_error = NULL WHERE url = ?",
        [now, ingest_id, now, article.url],
    )
    if final_url != article.url:
        con.execute(
            "INSERT INTO watch_articles (url, location, seq, state, queued_at, attempts, "
            "last_attempt_at, ingest_id, done_at) "
            "VALUES (?, ?, nextval('watch_article_seq'), 'done', ?, 1, ?, ?, ?) "
            "ON CONFLICT (url) DO NOTHING",
            [final_url, article.location, now, now, ingest_id, now],
        )


def mark_article_failed(
    con: duckdb.DuckDBPyConnection, article: QueuedArticle, error: str, now: datetime, give_up: bool
) -> None:
    con.execute(
        "UPDATE watch_articles SET attempts = attempts + 1, last_attempt_at = ?, "
        "last_error = ?, state = ? WHERE url = ?",
        [now, error[:MAX_ERROR_CHARS], "failed" if give_up else "queued", article.url],
    )


def get_progress(store: Store, name: str) -> int | None:
    value = store.scalar("SELECT value FROM watch_progress WHERE name = ?", [name])
    return None if value is None else int(value)


def set_progress(con: duckdb.DuckDBPyConnection, name: str, value: int) -> None:
    con.execute(
        "INSERT INTO watch_progress VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = ?",
        [name, value, value],
    )


def latest_ingest_with_items(store: Store) -> int:
    """The highest ingest id that added items (0 for none)."""
    return int(store.scalar("SELECT coalesce(max(ingest_id), 0) FROM ingest_log WHERE added > 0"))
