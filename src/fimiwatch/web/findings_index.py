"""The findings list and detail for the JSON API, answered from memory.

A DuckDB query costs milliseconds even on 10,000 rows (a findings page is a join, a count and
a sort), which under 20 concurrent clients on a small machine adds up to a slow API. So the API
keeps a snapshot of what the list shows: every finding's row (the columns of
``queries.FINDING_COLUMNS``, already serialised to JSON), its notes, and columns for filtering
and sorting (numpy arrays and, for list-valued fields, a map from value to positions). A page
is then a few array operations and a join of ready-made JSON.

The snapshot is rebuilt whenever :func:`fimiwatch.store.data_generation` moves, which it does
after every change this process commits (a detector run, a status, TLP or note, a user), and
DuckDB lets no other process write the store meanwhile, so a page is never stale. Answers are
those of ``queries.list_findings`` and ``queries.finding_detail``, the SQL the HTML pages use
(``tests/test_findings_index.py`` checks that); a text search (``q``) still asks DuckDB which
findings match, so ``ILIKE`` keeps its exact meaning.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import orjson

from fimiwatch.findings import SEVERITIES
from fimiwatch.store import Store, data_generation
from fimiwatch.web.queries import (
    FINDING_COLUMNS,
    FINDING_FROM,
    SORTS,
    FindingFilter,
    list_findings,
    rows,
)

MAX_FINDINGS = 500_000
"""Above this many findings the API reads through SQL rather than hold them all in memory."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NONE = np.iinfo(np.int64).min
_LISTED = ("targets", "actors", "source_ids", "countries", "langs")
_JSON = orjson.OPT_UTC_Z


def _micros(value: datetime | None) -> int:
    if value is None:
        return _NONE
    if value.tzinfo is None:  # DuckDB reads a naive time as UTC (the store's time zone)
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def dumps(value: Any) -> bytes:
    """JSON as the API writes it (times in UTC with ``Z``, as FastAPI's encoder does)."""
    return orjson.dumps(value, option=_JSON)


@dataclass(frozen=True)
class FindingIndex:
    generation: int
    ids: list[str]
    position: dict[str, int]
    json: list[bytes]
    notes: dict[str, list[dict[str, Any]]]
    codes: dict[str, dict[str, int]]
    """Per coded column (type, status), its values' numbers in ``type`` and ``status``."""
    type: np.ndarray
    severity: np.ndarray
    status: np.ndarray
    first_seen: np.ndarray
    last_seen: np.ndarray
    members: dict[str, dict[str, np.ndarray]]
    orders: dict[str, np.ndarray]

    @classmethod
    def build(cls, con: duckdb.DuckDBPyConnection, generation: int) -> FindingIndex:
        found = rows(con, f"SELECT {FINDING_COLUMNS} FROM {FINDING_FROM}", [])
        notes: dict[str, list[dict[str, Any]]] = {}
        for note in rows(
            con,
            "SELECT finding_id, note_id, author, text, created_at FROM finding_notes "
            "ORDER BY created_at, note_id",
            [],
        ):
            notes.setdefault(note.pop("finding_id"), []).append(note)
        ids = [row["id"] for row in found]
        codes: dict[str, dict[str, int]] = {"type": {}, "status": {}}
        coded = {
            column: np.array([codes[column].setdefault(row[column], len(codes[column]))
                              for row in found], dtype=np.int64)
            for column in codes
        }  # fmt: skip
        rank = {severity: number for number, severity in enumerate(SEVERITIES)}
        score = np.array([row["score"] for row in found], dtype=np.float64)
        severity = np.array([rank.get(row["severity"], -1) for row in found], dtype=np.int64)
        first = np.array([_micros(row["first_seen"]) for row in found], dtype=np.int64)
        last = np.array([_micros(row["last_seen"]) for row in found], dtype=np.int64)
        members: dict[str, dict[str, np.ndarray]] = {}
        for column in _LISTED:
            positions: dict[str, list[int]] = {}
            for number, row in enumerate(found):
                for value in set(row[column] or ()):
                    if value is not None:
                        positions.setdefault(value, []).append(number)
            members[column] = {k: np.array(v, dtype=np.int64) for k, v in positions.items()}
        by_id = np.argsort(np.array(ids, dtype=object), kind="stable")

        def ordered(*keys: np.ndarray) -> np.ndarray:
            # np.lexsort sorts by the last key first; ties end in id order
            within = np.lexsort([*(key[by_id] for key in reversed(keys))])
            return by_id[within]

        known_first, known_last = (first == _NONE).astype(np.int8), (last == _NONE).astype(np.int8)
        orders = {
            "score": ordered(-score),
            "newest": ordered(known_last, -np.where(last == _NONE, 0, last)),
            "oldest": ordered(known_first, np.where(first == _NONE, 0, first)),
            "severity": ordered(-severity, -score),
        }
        assert set(orders) == set(SORTS)
        return cls(
            generation=generation,
            ids=ids,
            position={finding: number for number, finding in enumerate(ids)},
            json=[dumps(row) for row in found],
            notes=notes,
            codes=codes,
            type=coded["type"],
            severity=severity,
            status=coded["status"],
            first_seen=first,
            last_seen=last,
            members=members,
            orders=orders,
        )

    def matching(self, con: duckdb.DuckDBPyConnection | None, where: FindingFilter) -> np.ndarray:
        """A mask over the findings: those the filter keeps (``con`` is needed for ``q``)."""
        keep = np.ones(len(self.ids), dtype=bool)
        if where.type is not None:
            keep &= self.type == self.codes["type"].get(where.type, -1)
        if where.severity is not None:
            keep &= self.severity >= SEVERITIES.index(where.severity)
        if where.status is not None:
            keep &= self.status == self.codes["status"].get(where.status, -1)
        for column, value in (("targets", where.target), ("actors", where.actor),
                              ("source_ids", where.source), ("countries", where.country),
                              ("langs", where.lang)):  # fmt: skip
            if value is not None:
                having = np.zeros(len(self.ids), dtype=bool)
                having[self.members[column].get(value, np.empty(0, dtype=np.int64))] = True
                keep &= having
        if where.since is not None:
            keep &= (self.last_seen != _NONE) & (self.last_seen >= _micros(where.since))
        if where.until is not None:
            keep &= (self.first_seen != _NONE) & (self.first_seen <= _micros(where.until))
        if where.q is not None:
            if con is None:
                raise ValueError("a text search needs a connection")
            found = np.zeros(len(self.ids), dtype=bool)
            for (finding,) in con.execute(
                "SELECT f.id FROM findings f "
                "WHERE f.title ILIKE '%' || ? || '%' OR f.summary ILIKE '%' || ? || '%'",
                [where.q, where.q],
            ).fetchall():
                number = self.position.get(finding)
                if number is not None:
                    found[number] = True
            keep &= found
        return keep

    def page(
        self,
        con: duckdb.DuckDBPyConnection | None,
        where: FindingFilter,
        sort: str,
        limit: int,
        offset: int,
    ) -> bytes:
        """``queries.list_findings`` as JSON."""
        order = self.orders[sort]
        chosen = order[self.matching(con, where)[order]]
        shown = chosen[offset : offset + limit]
        return b"".join((
            b'{"total":', str(len(chosen)).encode(), b',"limit":', str(limit).encode(),
            b',"offset":', str(offset).encode(), b',"findings":[',
            b",".join(self.json[number] for number in shown), b"]}",
        ))  # fmt: skip

    def detail(self, con: duckdb.DuckDBPyConnection, finding_id: str) -> bytes | None:
        """``queries.finding_detail`` as JSON; None for no such finding."""
        number = self.position.get(finding_id)
        if number is None:
            return None
        found = con.execute(
            "SELECT evidence, detector FROM findings WHERE id = ?", [finding_id]
        ).fetchone()
        if found is None:  # removed since the snapshot; the next request rebuilds it
            return None
        evidence = orjson.loads(found[0]) if found[0] else {}
        row = self.json[number]
        return b"".join((
            row[:-1], b',"evidence":', dumps(evidence), b',"detector":', dumps(found[1]),
            b',"notes":', dumps(self.notes.get(finding_id, [])), b"}",
        ))  # fmt: skip


class FindingCache:
    """The current :class:`FindingIndex` of one store, rebuilt when its data changes."""

    def __init__(self) -> None:
        self.index: FindingIndex | None = None
        self._lock = threading.Lock()

    def get(self, con: duckdb.DuckDBPyConnection) -> FindingIndex | None:
        """The index, or None when the store holds too many findings to index."""
        index = self.index
        generation = data_generation()
        if index is not None and index.generation == generation:
            return index
        with self._lock:
            index = self.index
            if index is None or index.generation != generation:
                (count,) = con.execute("SELECT count(*) FROM findings").fetchone() or (0,)
                if count > MAX_FINDINGS:
                    return None
                # the generation was read before the data: a change while building makes the
                # next request build again, never keeps a stale index
                index = self.index = FindingIndex.build(con, generation)
            return index


_caches: weakref.WeakKeyDictionary[Store, FindingCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def fresh(store: Store) -> FindingIndex | None:
    """The store's findings index if it is built and up to date (never waits, never builds)."""
    cache = _caches.get(store)
    index = cache.index if cache is not None else None
    return index if index is not None and index.generation == data_generation() else None


def current(store: Store, con: duckdb.DuckDBPyConnection) -> FindingIndex | None:
    """The store's findings index, up to date; None when it holds too many findings."""
    cache = _caches.get(store)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(store, FindingCache())
    return cache.get(con)


def page_json(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    where: FindingFilter,
    sort: str,
    limit: int,
    offset: int,
) -> bytes:
    """A findings page as the API's JSON: from the index, or through SQL when the store holds
    too many findings to index (the same answer either way)."""
    index = current(store, con)
    if index is None:
        return dumps(list_findings(con, where, sort, limit, offset))
    return index.page(con, where, sort, limit, offset)
