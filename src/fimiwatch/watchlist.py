"""Watched people, organisations, elections and domains (loaded from CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from fimiwatch.reference_csv import ReferenceLoad, RowError, read_reference_rows, split_list
from fimiwatch.store import Store

KINDS = ("person", "organisation", "election", "domain")
COLUMNS = ("kind", "name", "aliases", "country", "role", "domains", "notes")


def _parse(row: dict[str, str]) -> dict[str, Any]:
    kind = row.get("kind", "").lower()
    if kind not in KINDS:
        raise RowError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    name = row.get("name", "")
    if not name:
        raise RowError("name is empty")
    return {
        "kind": kind,
        "name": name,
        "aliases": split_list(row.get("aliases", "")),
        "country": row.get("country") or None,
        "role": row.get("role") or None,
        "domains": [d.lower() for d in split_list(row.get("domains", ""))],
        "notes": row.get("notes") or None,
    }


def load_watchlist(store: Store, path: Path) -> ReferenceLoad:
    rows, summary = read_reference_rows(path, ("kind", "name"), _parse)
    if rows:
        table = pa.Table.from_pylist(
            [{**r, "loaded_from": str(path)} for r in rows],
            schema=pa.schema(
                [
                    ("kind", pa.string()),
                    ("name", pa.string()),
                    ("aliases", pa.list_(pa.string())),
                    ("country", pa.string()),
                    ("role", pa.string()),
                    ("domains", pa.list_(pa.string())),
                    ("notes", pa.string()),
                    ("loaded_from", pa.string()),
                ]
            ),
        )
        with store.transaction() as con:
            con.register("loaded", table)
            con.execute(
                "INSERT OR REPLACE INTO watchlist SELECT "
                + ", ".join((*COLUMNS, "loaded_from"))
                + " FROM loaded"
            )
            con.unregister("loaded")
    return summary
