"""What each detector's stored findings were computed from: the last ingest they cover and a
fingerprint of everything else they read (parameters, registry, watchlist, narratives,
knowledge base, fimiwatch's version). An incremental run trusts a detector's findings only
while its fingerprint is unchanged; otherwise the detector runs in full."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version

import duckdb

from fimiwatch.detect.base import Detector
from fimiwatch.store import Store

REFERENCE_TABLES = (
    "sources",
    "watchlist",
    "narrative_claims",
    "kb_meta",
    "kb_actors",
    "kb_aliases",
    "kb_techniques",
    "kb_incidents",
    "kb_indicators",
)
"""The tables besides ``items`` and ``mentions`` that detectors read."""


@dataclass(frozen=True)
class DetectorState:
    ingest_id: int
    fingerprint: str


def reference_digest(store: Store) -> str:
    """A digest of the reference tables' contents (row order does not matter)."""
    parts = [
        f"{table}:{count}:{digest}"
        for table in REFERENCE_TABLES
        for count, digest in store.con.execute(
            f"SELECT count(*), coalesce(bit_xor(hash(t)), 0) FROM {table} t"
        ).fetchall()
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def fingerprint(detector: Detector, digest: str, upstream: str = "") -> str:
    """What a detector's findings depend on besides the items: ``digest`` of the reference
    tables and ``upstream``, a digest of the findings it reads."""
    text = f"{version('fimiwatch')}|{detector.name}|{detector.params!r}|{digest}|{upstream}"
    return hashlib.sha256(text.encode()).hexdigest()


def latest_ingest(store: Store) -> int:
    return int(store.scalar("SELECT coalesce(max(ingest_id), 0) FROM items"))


def load_states(store: Store) -> dict[str, DetectorState]:
    rows = store.con.execute("SELECT detector, ingest_id, fingerprint FROM detector_state")
    return {name: DetectorState(ingest, fp) for name, ingest, fp in rows.fetchall()}


def record_state(
    con: duckdb.DuckDBPyConnection, detector: str, ingest_id: int, print_: str, mode: str
) -> None:
    con.execute(
        """INSERT INTO detector_state VALUES (?, ?, ?, ?, ?) ON CONFLICT (detector) DO UPDATE SET
           ingest_id = excluded.ingest_id, fingerprint = excluded.fingerprint,
           mode = excluded.mode, ran_at = excluded.ran_at""",
        [detector, ingest_id, print_, mode, datetime.now(UTC)],
    )
