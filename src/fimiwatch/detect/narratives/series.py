"""Counts of a narrative's items per day, language, country and source affiliation (from the
``narrative_items`` the detector stored), and its surge days.

Days are UTC calendar days. The series runs over every day the store has items for (email
aside), so days without the narrative count as 0 and a first appearance is a rise from 0. A
day is *covered* when the store holds at least ``COVERAGE_SHARE`` of the median day's items:
a collection that starts on 13 May makes 13 May look like a surge of everything, so gaps in
the coverage are neither tested nor part of a baseline, and the series runs from the first
covered day to the last (items outside count in the totals, not in the series).
Country and affiliation come from the source registry (``unknown`` for unregistered sources).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from fimiwatch.detect.laundering.params import ORIGIN_AFFILIATIONS
from fimiwatch.detect.narratives.params import NarrativeParams
from fimiwatch.detect.narratives.surges import find_surges
from fimiwatch.store import Store

DIMENSIONS = ("lang", "country", "affiliation")
COVERAGE_SHARE = 0.2
EXCERPT_CHARS = 280
TEST = (
    "one-sided negative-binomial test (Poisson when not overdispersed) of each day's count "
    "against the mean and variance of the {baseline} days before it, Bonferroni over the days "
    "tested at alpha {alpha}; also at least {items} items and {ratio}× the baseline mean"
)

ASSIGNED_SQL = """
    SELECT n.item_id, n.similarity, i.published_at, i.account_id, i.source,
           CAST(timezone('UTC', i.published_at) AS DATE) AS day,
           coalesce(i.lang, 'unknown') AS lang,
           coalesce(s.country, 'unknown') AS country,
           coalesce(s.affiliation, 'unknown') AS affiliation
    FROM narrative_items n JOIN items i ON i.id = n.item_id
    LEFT JOIN sources s ON s.source = i.source
    WHERE n.narrative = ?
"""


@dataclass
class NarrativeSeries:
    daily: list[dict[str, Any]]
    surges: list[dict[str, Any]]
    test: str
    breakdown: dict[str, list[dict[str, Any]]]
    state_share: float
    active_days: int
    accounts: int
    account_ids: list[str]
    source_ids: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    excerpts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Days:
    first: date
    covered: np.ndarray
    """Per day from ``first``, whether the collection covered it."""

    @property
    def names(self) -> list[str]:
        return [(self.first + timedelta(days=i)).isoformat() for i in range(len(self.covered))]


def observed_days(store: Store) -> Days | None:
    """The UTC days the store has items for (email aside), and which of them are covered."""
    volume = store.con.execute(
        "SELECT CAST(timezone('UTC', published_at) AS DATE) AS day, count(*) FROM items "
        "WHERE platform <> 'email' AND published_at IS NOT NULL GROUP BY day ORDER BY day"
    ).fetchall()
    if not volume:
        return None
    first, last = volume[0][0], volume[-1][0]
    items = np.zeros((last - first).days + 1)
    for day, n in volume:
        items[(day - first).days] = n
    covered = items >= COVERAGE_SHARE * np.median(items[items > 0])
    span = np.flatnonzero(covered)
    start, end = int(span[0]), int(span[-1]) + 1  # a stray old item does not stretch it
    return Days(first + timedelta(days=start), covered[start:end])


def narrative_series(
    store: Store,
    key: str,
    days: Days,
    params: NarrativeParams,
    example_ids: list[str],
) -> NarrativeSeries:
    # the narrative's items are read once; every count below is over this table
    assigned = store.con.sql(ASSIGNED_SQL, params=[key]).to_arrow_table()
    store.con.register("assigned", assigned)
    try:
        per_day = store.con.execute("SELECT day, count(*) FROM assigned GROUP BY day").fetchall()
        breakdown = {
            dimension: store.rows(
                f"SELECT {dimension} AS value, count(*) AS items FROM assigned "
                "GROUP BY 1 ORDER BY items DESC, value"
            )
            for dimension in DIMENSIONS
        }
        summary = store.rows(
            """SELECT min(published_at) AS first_seen, max(published_at) AS last_seen,
                      count(*) AS items,
                      count(*) FILTER (affiliation IN (SELECT unnest(?))) AS state_items,
                      list(DISTINCT account_id ORDER BY account_id)
                          FILTER (account_id IS NOT NULL) AS accounts,
                      list(DISTINCT source ORDER BY source) FILTER (source IS NOT NULL)
                          AS sources
               FROM assigned""",
            [list(ORIGIN_AFFILIATIONS)],
        )[0]
    finally:
        store.con.unregister("assigned")
    counts = np.zeros(len(days.covered), dtype=np.int64)
    for day, n in per_day:
        if 0 <= (day - days.first).days < len(counts):
            counts[(day - days.first).days] = n
    day_names = days.names
    tested = np.where(days.covered, counts.astype(np.float64), np.nan)
    accounts, sources = summary["accounts"] or [], summary["sources"] or []
    return NarrativeSeries(
        daily=[
            {"day": d, "items": int(n), "covered": bool(c)}
            for d, n, c in zip(day_names, counts, days.covered, strict=True)
        ],
        surges=[s.to_dict(day_names[s.day]) for s in find_surges(tested, params)],
        test=TEST.format(
            baseline=params.baseline_days,
            alpha=params.alpha,
            items=params.min_surge_items,
            ratio=params.min_surge_ratio,
        ),
        breakdown=breakdown,
        state_share=round(summary["state_items"] / summary["items"], 4) if summary["items"] else 0,
        active_days=int(np.count_nonzero(counts)),
        accounts=len(accounts) or len(sources),
        account_ids=accounts,
        source_ids=sources,
        first_seen=summary["first_seen"],
        last_seen=summary["last_seen"],
        excerpts=_excerpts(store, key, example_ids),
    )


def _excerpts(store: Store, key: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = store.rows(
        "SELECT i.id, round(n.similarity, 4) AS similarity, i.published_at, i.source, i.lang, "
        f"left(coalesce(i.title || ' — ', '') || coalesce(i.text, ''), {EXCERPT_CHARS}) AS text "
        "FROM narrative_items n JOIN items i ON i.id = n.item_id "
        "WHERE n.narrative = ? AND i.id IN (SELECT unnest(?::VARCHAR[]))",
        [key, ids],
    )
    return {
        r["id"]: {
            "similarity": r["similarity"],
            "published_at": r["published_at"].isoformat() if r["published_at"] else None,
            "source": r["source"],
            "lang": r["lang"],
            "text": r["text"],
        }
        for r in rows
    }


def daily_counts(store: Store, by: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Items per narrative and UTC day, optionally split by language, country and/or
    affiliation (``fimiwatch narratives counts``)."""
    unknown = set(by) - set(DIMENSIONS)
    if unknown:
        raise ValueError(
            f"cannot split by {', '.join(sorted(unknown))}; choose from {', '.join(DIMENSIONS)}"
        )
    columns = ", ".join(("narrative", "name", "day", *by))
    return store.rows(
        f"SELECT {columns}, count(*) AS items FROM ("
        + ASSIGNED_SQL.replace("WHERE n.narrative = ?", "").replace(
            "SELECT n.item_id,", "SELECT n.narrative, n.name, n.item_id,"
        )
        + f") GROUP BY ALL ORDER BY {columns}"
    )
