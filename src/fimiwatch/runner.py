"""``fimiwatch run``: enrich what is new, then run detectors and replace their findings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from fimiwatch import plugins
from fimiwatch.alerts import DispatchSummary, dispatch
from fimiwatch.detect.base import Change, Detector, Update
from fimiwatch.detect.state import (
    DetectorState,
    fingerprint,
    latest_ingest,
    load_states,
    record_state,
    reference_digest,
)
from fimiwatch.enrich.langid import detect_missing_languages
from fimiwatch.enrich.mentions import link_mentions
from fimiwatch.findings import Finding
from fimiwatch.intel.kb import ensure_kb
from fimiwatch.intel.registry import load_builtin_sources
from fimiwatch.store import Store

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    languages_detected: int = 0
    mentions_linked: int = 0
    detectors: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Detector name → (its findings in the store after the run, seconds)."""
    modes: dict[str, str] = field(default_factory=dict)
    """Detector name → ``full``, ``incremental`` (only what is new was examined) or
    ``unchanged`` (nothing it reads is new: its findings stand)."""
    alerts: DispatchSummary | None = None
    """None when dispatching failed (logged); the run's findings are saved all the same."""


def select_detectors(only: list[str] | None) -> list[type[Detector]]:
    """The detectors to run (all: by name), each after those it ``depends_on``."""
    available = plugins.detectors()
    if not only:
        return _dependencies_first([available[name] for name in sorted(available)])
    unknown = [name for name in only if name not in available]
    if unknown:
        raise ValueError(
            f"unknown detector(s): {', '.join(unknown)}; "
            f"available: {', '.join(sorted(available)) or 'none'}"
        )
    return _dependencies_first([available[name] for name in only])


def _dependencies_first(classes: list[type[Detector]]) -> list[type[Detector]]:
    """``classes`` in their order, except that a detector runs after the selected detectors
    whose findings it reads."""
    selected = {cls.name for cls in classes}
    ordered: list[type[Detector]] = []
    pending = list(classes)
    while pending:
        done = {cls.name for cls in ordered}
        ready = next(
            (c for c in pending if all(d in done or d not in selected for d in c.depends_on)),
            None,
        )
        if ready is None:
            names = ", ".join(cls.name for cls in pending)
            raise ValueError(f"detectors that depend on each other in a circle: {names}")
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def run_pipeline(
    store: Store,
    only: list[str] | None = None,
    progress: Callable[[str, int], None] | None = None,
    incremental: bool = False,
) -> RunSummary:
    """Enrich, then run each selected detector; each detector's old findings are replaced.

    ``incremental``: a detector whose stored findings are up to date with everything it reads
    but new items (``detect/state.py``) examines only what is new (``Detector.update``), or is
    left alone when nothing it reads is new; any other runs in full. The findings are the same
    either way (tests/test_incremental.py).
    """
    detectors = select_detectors(only)
    configured = store.settings.detectors
    unknown = sorted(set(configured) - set(plugins.detectors()))
    if unknown:
        raise ValueError(f"settings name unknown detector(s): {', '.join(unknown)}")
    built = [  # every detector's parameters are checked before any runs
        cls(**{key: tuple(value) if isinstance(value, list) else value
               for key, value in configured.get(cls.name, {}).items()})
        for cls in detectors
    ]  # fmt: skip
    ensure_reference_data(store)
    summary = RunSummary()
    summary.languages_detected = detect_missing_languages(
        store,
        store.settings.languages,
        (lambda n: progress("languages", n)) if progress else None,
    )
    summary.mentions_linked = link_mentions(
        store, (lambda n: progress("mentions", n)) if progress else None
    )
    through = latest_ingest(store)
    digest = reference_digest(store)
    states = load_states(store) if incremental else {}
    seen_upstream = {d.name: _upstream_digest(store, d.depends_on) for d in built}
    changed: dict[str, Members] = {}
    read_by_others = {name for d in built for name in d.depends_on}
    for detector in built:
        started = time.perf_counter()
        state = states.get(detector.name)
        watched = detector.name in read_by_others  # only then is what changed worth knowing
        before = _members(store, detector.name) if watched else Members()
        trusted = fingerprint(detector, digest, seen_upstream[detector.name])
        mode, update = _plan(store, detector, state, trusted, through, changed)
        recorded = fingerprint(detector, digest, _upstream_digest(store, detector.depends_on))
        findings = detector.run(store) if mode == "full" else update.findings if update else []
        save_findings(
            store, detector.name, findings,
            replaces=None if mode == "full" or (update and update.replaces_all)
            else (update.replaces if update else frozenset()),
            state=(through, recorded, mode),
        )  # fmt: skip
        if watched and mode != "unchanged":
            changed[detector.name] = before.changed(_members(store, detector.name))
        count = store.scalar("SELECT count(*) FROM findings WHERE detector = ?", [detector.name])
        summary.detectors[detector.name] = (int(count), time.perf_counter() - started)
        summary.modes[detector.name] = mode
    try:  # deliveries that fail are retried on a later dispatch; none may fail the run
        summary.alerts = dispatch(store, store.settings)
    except Exception:
        logger.exception("alerts: dispatch failed after the run")
    return summary


def _plan(
    store: Store,
    detector: Detector,
    state: DetectorState | None,
    trusted: str,
    through: int,
    changed: dict[str, Members],
) -> tuple[str, Update | None]:
    """How the detector runs: ``full``, ``incremental`` (with its update) or ``unchanged``."""
    if state is None or state.fingerprint != trusted or state.ingest_id > through:
        return "full", None
    upstream = Members.union(changed.get(name, Members()) for name in detector.depends_on)
    new = store.scalar(
        f"SELECT count(*) FROM items WHERE ingest_id > ? AND ingest_id <= ? "
        f"AND ({detector.reads()})",
        [state.ingest_id, through],
    )
    if not new and not upstream.items and not upstream.accounts:
        return "unchanged", None
    change = Change(state.ingest_id, through, upstream.items, upstream.accounts)
    update = detector.update(store, change)
    return ("full", None) if update is None else ("incremental", update)


@dataclass(frozen=True)
class Members:
    """A detector's findings as (id → items and accounts), or the items and accounts of the
    findings that changed between two of these."""

    findings: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    items: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()

    def changed(self, after: Members) -> Members:
        items: set[str] = set()
        accounts: set[str] = set()
        for key in self.findings.keys() | after.findings.keys():
            old, new = self.findings.get(key), after.findings.get(key)
            if old != new:
                for members in (old, new):
                    if members:
                        items.update(members[0])
                        accounts.update(members[1])
        return Members(items=frozenset(items), accounts=frozenset(accounts))

    @staticmethod
    def union(parts: Iterable[Members]) -> Members:
        items: set[str] = set()
        accounts: set[str] = set()
        for part in parts:
            items |= part.items
            accounts |= part.accounts
        return Members(items=frozenset(items), accounts=frozenset(accounts))


def _members(store: Store, detector: str) -> Members:
    rows = store.con.execute(
        "SELECT id, item_ids, account_ids FROM findings WHERE detector = ?", [detector]
    ).fetchall()
    return Members(
        {key: (tuple(items or ()), tuple(accounts or ())) for key, items, accounts in rows}
    )


def _upstream_digest(store: Store, detectors: tuple[str, ...]) -> str:
    """The findings of the detectors one depends on, as one value: a dependent may update
    incrementally only if they have not changed since it last ran, other than in this run."""
    if not detectors:
        return ""
    count, digest = store.con.execute(
        "SELECT count(*), coalesce(bit_xor(hash(id, item_ids, account_ids)), 0) FROM findings "
        "WHERE list_contains(?, detector)",
        [list(detectors)],
    ).fetchall()[0]
    return f"{count}:{digest}"


def ensure_reference_data(store: Store) -> None:
    """The built-in source registry and the knowledge base, loaded or refreshed if stale."""
    load_builtin_sources(store)
    ensure_kb(store)


def save_findings(
    store: Store,
    detector: str,
    findings: list[Finding],
    replaces: frozenset[str] | None = None,
    state: tuple[int, str, str] | None = None,
) -> None:
    """Store a detector's findings: all of its old ones replaced (``replaces`` None), or only
    those with the ids in ``replaces`` or of the new findings. ``state``: (ingest, fingerprint,
    mode) to record for the detector in the same transaction."""
    created = datetime.now(UTC)
    table = pa.Table.from_pylist(
        [
            {
                **f.to_dict(),
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
                "evidence": f.evidence_json(),
                "detector": detector,
                "created_at": created,
            }
            for f in findings
        ],
        schema=FINDINGS_SCHEMA,
    )
    scope = sorted((replaces or frozenset()) | {f.id for f in findings})
    with store.transaction() as con:
        if replaces is None:
            con.execute("DELETE FROM findings WHERE detector = ?", [detector])
        elif scope:
            con.execute(
                "DELETE FROM findings WHERE detector = ? AND list_contains(?, id)",
                [detector, scope],
            )
        con.register("new_findings", table)
        con.execute("INSERT INTO findings BY NAME SELECT * FROM new_findings")
        con.unregister("new_findings")
        if replaces is None:
            con.execute(
                "DELETE FROM finding_facets WHERE finding_id NOT IN (SELECT id FROM findings) "
                "OR finding_id IN (SELECT id FROM findings WHERE detector = ?)",
                [detector],
            )
            con.execute(FACETS_SQL.format(scope="detector = $scope"), {"scope": detector})
        elif scope:
            con.execute("DELETE FROM finding_facets WHERE list_contains(?, finding_id)", [scope])
            con.execute(FACETS_SQL.format(scope="list_contains($scope, id)"), {"scope": scope})
        if state is not None:
            record_state(con, detector, *state)


FACETS_SQL = """
INSERT INTO finding_facets
WITH evidence AS (
    SELECT id AS finding_id, unnest(item_ids) AS item_id FROM findings WHERE {scope}
), languages AS (
    SELECT e.finding_id, list_sort(list_distinct(list(i.lang))) AS langs
    FROM evidence e JOIN items i ON i.id = e.item_id WHERE i.lang IS NOT NULL GROUP BY ALL
), countries AS (
    SELECT finding_id, list_sort(list_distinct(list(country))) AS countries FROM (
        SELECT e.finding_id, s.country FROM evidence e
        JOIN items i ON i.id = e.item_id JOIN sources s ON s.source = i.source
        UNION ALL
        SELECT f.id, w.country FROM findings f, unnest(f.targets) AS t(name)
        JOIN watchlist w ON w.name = t.name WHERE {scope}
    ) WHERE country IS NOT NULL GROUP BY ALL
)
SELECT f.id, coalesce(l.langs, []), coalesce(c.countries, [])
FROM findings f LEFT JOIN languages l ON l.finding_id = f.id
LEFT JOIN countries c ON c.finding_id = f.id
WHERE {scope}
"""
"""Languages of a finding's items, and countries of their sources and of its watched targets:
filters for the workspace, recomputed for the findings saved (``scope``: a condition on
``findings`` that names them)."""


_LIST = pa.list_(pa.string())
FINDINGS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("detector", pa.string()),
        ("title", pa.string()),
        ("summary", pa.string()),
        ("score", pa.float64()),
        ("severity", pa.string()),
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("last_seen", pa.timestamp("us", tz="UTC")),
        ("item_ids", _LIST),
        ("account_ids", _LIST),
        ("source_ids", _LIST),
        ("targets", _LIST),
        ("actors", _LIST),
        ("disarm", _LIST),
        ("attack", _LIST),
        ("evidence", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)
