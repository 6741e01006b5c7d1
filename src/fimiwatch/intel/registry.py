"""The source registry: which outlets and accounts speak for which state."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from fimiwatch.config import AFFILIATIONS
from fimiwatch.reference_csv import ReferenceLoad, RowError, read_reference_rows
from fimiwatch.store import Store

COLUMNS = (
    "source", "name", "domain", "platform", "country", "language", "affiliation",
    "owner_state", "notes",
)  # fmt: skip
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$")
_STATE = re.compile(r"^[A-Z]{2}$")


def _parse(row: dict[str, str]) -> dict[str, Any]:
    key = row.get("source", "")
    if not _KEY.match(key):
        raise RowError(f"source key {key!r} must be 1–128 letters, digits or _.:@/-")
    affiliation = (row.get("affiliation") or "unknown").lower()
    if affiliation not in AFFILIATIONS:
        raise RowError(f"affiliation {affiliation!r} is not one of {', '.join(AFFILIATIONS)}")
    state = (row.get("owner_state") or "").upper()
    if state and not _STATE.match(state):
        raise RowError(f"owner_state {state!r} is not an ISO 3166 alpha-2 code")
    domain = (row.get("domain") or "").lower().removeprefix("www.") or None
    values: dict[str, Any] = {column: row.get(column) or None for column in COLUMNS}
    values.update(source=key, affiliation=affiliation, owner_state=state or None, domain=domain)
    return values


def load_sources(store: Store, path: Path) -> ReferenceLoad:
    """Upsert a registry CSV: later loads override earlier rows with the same key."""
    rows, summary = read_reference_rows(path, ("source", "affiliation"), _parse)
    if rows:
        table = pa.Table.from_pylist([{**r, "loaded_from": str(path)} for r in rows])
        with store.transaction() as con:
            con.register("loaded", table)
            con.execute(
                "INSERT OR REPLACE INTO sources SELECT "
                + ", ".join((*COLUMNS, "loaded_from"))
                + " FROM loaded"
            )
            con.unregister("loaded")
    return summary
