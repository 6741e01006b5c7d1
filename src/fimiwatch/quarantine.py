"""The quarantine JSONL file: every rejected record, with the input, line and reason."""

from __future__ import annotations

from pathlib import Path

import orjson

from fimiwatch.store import Store


def append_quarantine(store: Store, path: Path, ingest_id: int) -> int:
    """Append one ingest's rejects (already committed to the store) to the JSONL file."""
    rows = store.rows(
        "SELECT input AS file, line, reason, record FROM quarantine "
        "WHERE ingest_id = ? ORDER BY line NULLS LAST",
        [ingest_id],
    )
    if not rows:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        for row in rows:
            handle.write(orjson.dumps({"ingest_id": ingest_id, **row}) + b"\n")
    return len(rows)


def quarantine_rejects(
    store: Store, path: Path, name: str, rejects: list[tuple[int, str, str]]
) -> int:
    """Record rejects found outside the item pipeline (reference files) the same way."""
    if not rejects:
        return 0
    with store.transaction() as con:
        ingest_id = int(store.scalar("SELECT nextval('ingest_id_seq')"))
        con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?)",
            [[ingest_id, name, line, reason, raw[:4096]] for line, reason, raw in rejects],
        )
    return append_quarantine(store, path, ingest_id)
