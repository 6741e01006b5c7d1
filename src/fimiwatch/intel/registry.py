"""The source registry: which outlets and accounts speak for which state."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from fimiwatch.config import AFFILIATIONS
from fimiwatch.reference_csv import ReferenceLoad, RowError, read_reference_rows
from fimiwatch.store import Store

COLUMNS = (
    "source", "name", "domain", "platform", "country", "language", "affiliation",
    "owner_state", "notes",
)  # fmt: skip
BUILTIN = "builtin"
"""``sources.loaded_from`` of rows that came from the packaged default registry."""
BUILTIN_RESOURCE = "data/sources.csv"
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


def read_sources(path: Path) -> tuple[list[dict[str, Any]], ReferenceLoad]:
    """Parse a registry CSV into validated rows (and the rows it rejected, with reasons)."""
    return read_reference_rows(path, ("source", "affiliation"), _parse)


def load_sources(store: Store, path: Path) -> ReferenceLoad:
    """Upsert a registry CSV: later loads override earlier rows with the same key."""
    rows, summary = read_sources(path)
    if rows:
        with store.transaction() as con:
            _upsert(con, rows, str(path), keep_user_rows=False)
    return summary


def read_builtin_sources() -> tuple[list[dict[str, Any]], ReferenceLoad]:
    """The default registry that ships with fimiwatch (state media and official channels)."""
    resource = resources.files("fimiwatch.intel").joinpath(BUILTIN_RESOURCE)
    with resources.as_file(resource) as path:
        return read_sources(path)


def load_builtin_sources(store: Store) -> int:
    """Make the packaged default registry present in the store; return how many keys it added.

    Rows get ``loaded_from = 'builtin'``. A key that a user loaded (a row whose
    ``loaded_from`` is anything else) is never touched, so the user's row for a key wins over
    the default one, whichever was loaded first. Rows that came from the builtin registry are
    refreshed to the packaged version. Calling it again changes nothing.
    """
    rows, _ = read_builtin_sources()
    if not rows:
        return 0
    with store.transaction() as con:
        return _upsert(con, rows, BUILTIN, keep_user_rows=True)


def _upsert(
    con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], origin: str, keep_user_rows: bool
) -> int:
    """Write rows into ``sources``, marked as loaded from ``origin``.

    With ``keep_user_rows``, keys whose stored row was not loaded from the builtin registry are
    left alone. Returns the number of keys that were not in the table before.
    """
    table = pa.Table.from_pylist([{**r, "loaded_from": origin} for r in rows])
    con.register("loaded", table)
    try:
        new = "SELECT count(*) FROM loaded WHERE source NOT IN (SELECT source FROM sources)"
        added = int(con.execute(new).fetchone()[0])  # type: ignore[index]
        insert = (
            f"INSERT OR REPLACE INTO sources SELECT {', '.join(COLUMNS)}, loaded_from FROM loaded"
        )
        if keep_user_rows:
            insert += (
                " WHERE source NOT IN (SELECT source FROM sources"
                " WHERE loaded_from IS DISTINCT FROM ?)"
            )
            con.execute(insert, [BUILTIN])
        else:
            con.execute(insert)
    finally:
        con.unregister("loaded")
    return added
