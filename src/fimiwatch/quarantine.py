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
