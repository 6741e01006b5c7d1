"""``fimiwatch run``: enrich what is new, then run detectors and replace their findings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from fimiwatch import plugins
from fimiwatch.alerts import DispatchSummary, dispatch
from fimiwatch.detect.base import Detector
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
    """Detector name → (findings, seconds)."""
    alerts: DispatchSummary | None = None
    """None when dispatching failed (logged); the run's findings are saved all the same."""


def select_detectors(only: list[str] | None) -> list[type[Detector]]:
    available = plugins.detectors()
    if not only:
        return [available[name] for name in sorted(available)]
    unknown = [name for name in only if name not in available]
    if unknown:
        raise ValueError(
            f"unknown detector(s): {', '.join(unknown)}; "
            f"available: {', '.join(sorted(available)) or 'none'}"
        )
    return [available[name] for name in only]


def run_pipeline(
    store: Store,
    only: list[str] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> RunSummary:
    """Enrich, then run each selected detector; each detector's old findings are replaced."""
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
    for detector in built:
        started = time.perf_counter()
        findings = detector.run(store)
        save_findings(store, detector.name, findings)
        summary.detectors[detector.name] = (len(findings), time.perf_counter() - started)
    try:  # deliveries that fail are retried on a later dispatch; none may fail the run
        summary.alerts = dispatch(store, store.settings)
    except Exception:
        logger.exception("alerts: dispatch failed after the run")
    return summary


def ensure_reference_data(store: Store) -> None:
    """The built-in source registry and the knowledge base, loaded or refreshed if stale."""
    load_builtin_sources(store)
    ensure_kb(store)


def save_findings(store: Store, detector: str, findings: list[Finding]) -> None:
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
    with store.transaction() as con:
        con.execute("DELETE FROM findings WHERE detector = ?", [detector])
        con.register("new_findings", table)
        con.execute("INSERT INTO findings BY NAME SELECT * FROM new_findings")
        con.unregister("new_findings")
        con.execute(
            "DELETE FROM finding_facets WHERE finding_id NOT IN (SELECT id FROM findings) "
            "OR finding_id IN (SELECT id FROM findings WHERE detector = ?)",
            [detector],
        )
        con.execute(FACETS_SQL, [detector, detector, detector])


FACETS_SQL = """
INSERT INTO finding_facets
WITH evidence AS (
    SELECT id AS finding_id, unnest(item_ids) AS item_id FROM findings WHERE detector = ?
), languages AS (
    SELECT e.finding_id, list_sort(list_distinct(list(i.lang))) AS langs
    FROM evidence e JOIN items i ON i.id = e.item_id WHERE i.lang IS NOT NULL GROUP BY ALL
), countries AS (
    SELECT finding_id, list_sort(list_distinct(list(country))) AS countries FROM (
        SELECT e.finding_id, s.country FROM evidence e
        JOIN items i ON i.id = e.item_id JOIN sources s ON s.source = i.source
        UNION ALL
        SELECT f.id, w.country FROM findings f, unnest(f.targets) AS t(name)
        JOIN watchlist w ON w.name = t.name WHERE f.detector = ?
    ) WHERE country IS NOT NULL GROUP BY ALL
)
SELECT f.id, coalesce(l.langs, []), coalesce(c.countries, [])
FROM findings f LEFT JOIN languages l ON l.finding_id = f.id
LEFT JOIN countries c ON c.finding_id = f.id
WHERE f.detector = ?
"""
"""Languages of a finding's items, and countries of their sources and of its watched targets:
filters for the workspace, recomputed whenever the detector's findings are replaced."""


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
