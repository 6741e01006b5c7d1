"""The ``narrative`` detector: which items carry which narrative, day by day, and when it surges.

1. Defined narratives (``fimiwatch narratives load``): an item carries one when one of its
   texts (``units.py``) is within the narrative's cosine of one of its claims, nearer to them
   (by ``min_gap``) than to any other narrative's claims and to everyday statements
   (``params.BACKGROUND``), and contains one of the narrative's keywords, if it has any.
   Across languages: claims and texts are multilingual embeddings.
2. Discovered narratives (``discover.py``): recurring communities among the other texts.
3. The assignments are stored in ``narrative_items`` (replaced each run); daily counts, per
   language, country and source affiliation, come from it (``series.py``); days are tested for
   surges (``surges.py``).
4. One finding per narrative with items: its daily series, surges, breakdowns and the most
   similar items as examples.

Score: s = min(1, −log10(smallest surge p) / 10), 0 without a surge. A defined narrative
scores 0.3 + 0.7·s (an analyst asked to watch it); a discovered one 0.35·s + 0.65·(share of
its items from state-affiliated sources): a viral hockey final surges too, but no state speaks
through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from fimiwatch.detect.base import Change, Detector, Update
from fimiwatch.detect.narratives.definitions import Narrative, defined_narratives
from fimiwatch.detect.narratives.discover import communities, label
from fimiwatch.detect.narratives.params import BACKGROUND, NarrativeParams
from fimiwatch.detect.narratives.series import (
    NarrativeSeries,
    narrative_series,
    observed_days,
)
from fimiwatch.detect.narratives.units import Units, collect_units, embed_queries
from fimiwatch.findings import Finding, finding_id, severity_for
from fimiwatch.intel.disarm import techniques_for
from fimiwatch.store import Store

MAX_FINDING_IDS = 1000
"""Item, account and source ids listed on one finding; the evidence gives the totals."""


@dataclass
class Assignment:
    key: str
    kind: str
    name: str
    items: np.ndarray
    """Indices into ``Units.item_ids``."""
    similarity: np.ndarray
    description: dict[str, Any]

    def ranked(self) -> np.ndarray:
        """The items, most similar first (ties by item order: deterministic)."""
        return self.items[np.argsort(-self.similarity, kind="stable")]


class NarrativeDetector(Detector):
    """Defined and discovered narratives, counted per day, with surges tested."""

    name: ClassVar[str] = "narratives"
    finding_type: ClassVar[str] = "narrative"
    description: ClassVar[str] = __doc__ or ""
    Params: ClassVar[type] = NarrativeParams
    params: NarrativeParams

    def validate(self) -> None:
        self.params.validate()

    def reads(self) -> str:
        """Dated items other than mail (``units.py`` and ``series.observed_days``)."""
        return "platform <> 'email' AND published_at IS NOT NULL"

    def update(self, store: Store, change: Change) -> Update | None:
        """Defined narratives only: an item's assignment depends on its own texts and the
        claims, so only new items are assigned; every narrative's series (which spans all days)
        is counted again from the stored assignments. Discovery clusters all texts: a full
        run."""
        defined = defined_narratives(store)
        if self.params.discover or not defined:
            return None
        units = collect_units(store, self.params, change.new_items())
        assigned, _ = self._defined(store, units, defined)
        _store_assignments(store, units, assigned, replace=False)
        return Update.whole(self._stored(store, defined))

    def _stored(self, store: Store, defined: list[Narrative]) -> list[Finding]:
        """The defined narratives' findings from the stored assignments."""
        ranked = []
        for narrative in defined:
            rows = store.con.execute(
                "SELECT item_id, similarity FROM narrative_items WHERE narrative = ? "
                "ORDER BY similarity DESC, item_id",
                [narrative.key],
            ).fetchall()
            if rows:
                assignment = Assignment(
                    narrative.key, "defined", narrative.name, np.arange(len(rows)),
                    np.array([similarity for _, similarity in rows]),
                    self._description(narrative),
                )  # fmt: skip
                ranked.append(([item_id for item_id, _ in rows], assignment))
        return self._findings(store, ranked)

    def _findings(self, store: Store, ranked: list[tuple[list[str], Assignment]]) -> list[Finding]:
        """One finding per assignment, given with its items, most similar first."""
        days = observed_days(store)
        if days is None:
            return []
        disarm, attack = techniques_for(self.finding_type)
        findings = []
        for ids, assignment in ranked:
            series = narrative_series(
                store, assignment.key, days, self.params, ids[: self.params.examples]
            )
            findings.append(self._finding(ids, assignment, series, disarm, attack))
        return findings

    def _description(self, narrative: Narrative) -> dict[str, Any]:
        return {
            "claims": list(narrative.claims),
            "keywords": list(narrative.keywords),
            "threshold": narrative.threshold or self.params.cosine,
            "min_gap": self.params.min_gap,
        }

    def run(self, store: Store) -> list[Finding]:
        defined = defined_narratives(store)
        if not defined and not self.params.discover:
            return []
        units = collect_units(store, self.params)
        assigned, matched_texts = self._defined(store, units, defined)
        if self.params.discover:
            assigned += self._discovered(store, units, matched_texts)
        _store_assignments(store, units, assigned)
        return self._findings(
            store, [([units.item_ids[i] for i in a.ranked()], a) for a in assigned]
        )

    def _defined(
        self, store: Store, units: Units, defined: list[Narrative]
    ) -> tuple[list[Assignment], np.ndarray]:
        """Assignments to the analysts' narratives, and which texts matched any of them."""
        matched = np.zeros(len(units.texts), dtype=bool)
        if not defined or not units.texts:
            return [], matched
        claims = [claim for n in defined for claim in n.claims] + list(BACKGROUND)
        sizes = [len(n.claims) for n in defined] + [len(BACKGROUND)]
        owner = np.repeat(np.arange(len(sizes)), sizes)
        cosine = _cosines(units.vectors, embed_queries(store, claims, self.params.backend))
        nearest = np.stack([cosine[:, owner == k].max(axis=1) for k in range(len(sizes))], axis=1)
        winner = nearest.argmax(axis=1)
        ranked = np.sort(nearest, axis=1)
        gap = ranked[:, -1] - ranked[:, -2]
        assigned = []
        for index, narrative in enumerate(defined):
            best = nearest[:, index]
            hit = (winner == index) & (gap >= self.params.min_gap)
            hit &= best >= (narrative.threshold or self.params.cosine)
            for text in np.flatnonzero(hit):
                hit[text] = narrative.mentioned_in(units.texts[text])
            matched |= hit
            items, score = _per_item(units, np.where(hit, best, -np.inf))
            if len(items):
                assigned.append(Assignment(
                    narrative.key, "defined", narrative.name, items, score,
                    self._description(narrative),
                ))  # fmt: skip
        return assigned, matched

    def _discovered(self, store: Store, units: Units, matched: np.ndarray) -> list[Assignment]:
        weights = units.weights
        groups = communities(units.vectors, ~matched, weights, self.params)
        recurring = self._recurring(store, units, groups)
        assigned = []
        for community in label(recurring, units.texts, units.vectors)[: self.params.max_discovered]:
            in_group = np.zeros(len(units.texts), dtype=bool)
            in_group[community.texts] = True
            centre = units.vectors[community.texts].mean(axis=0)
            centre /= np.linalg.norm(centre)
            closeness = np.where(in_group, units.vectors @ centre, -np.inf)
            items, score = _per_item(units, closeness)
            assigned.append(Assignment(
                community.key, "discovered", "Discovered: " + ", ".join(community.terms),
                items, score,
                {"terms": list(community.terms), "representative": community.representative,
                 "texts": len(community.texts)},
            ))  # fmt: skip
        return assigned

    def _recurring(self, store: Store, units: Units, groups: list[np.ndarray]) -> list[np.ndarray]:
        """The groups that enough items, accounts (or outlets) and days carry: one query for
        all groups."""
        weights = units.weights
        big = [g for g in groups if int(weights[g].sum()) >= self.params.min_cluster_items]
        if not big:
            return []
        group_of_text = np.full(len(units.texts), -1, dtype=np.int64)
        for number, group in enumerate(big):
            group_of_text[group] = number
        unit_group = group_of_text[units.text_of]
        keep = unit_group >= 0
        pairs = np.unique(np.stack([unit_group[keep], units.item_of[keep]], axis=1), axis=0)
        scratch = store.con.cursor()
        scratch.register("grouped", pa.table({
            "grp": pairs[:, 0],
            "item_id": pa.array(units.item_ids, pa.string()).take(pa.array(pairs[:, 1])),
        }))  # fmt: skip
        rows = scratch.execute(
            """SELECT g.grp, count(*) AS items,
                      count(DISTINCT coalesce(i.account_id, i.source, i.id)) AS accounts,
                      count(DISTINCT CAST(timezone('UTC', i.published_at) AS DATE)) AS days
               FROM grouped g JOIN items i ON i.id = g.item_id GROUP BY g.grp""",
        ).fetchall()
        passing = {
            grp
            for grp, items, accounts, days in rows
            if items >= self.params.min_cluster_items
            and accounts >= self.params.min_cluster_accounts
            and days >= self.params.min_cluster_days
        }
        return [group for number, group in enumerate(big) if number in passing]

    def _finding(
        self,
        item_ids: list[str],
        assignment: Assignment,
        series: NarrativeSeries,
        disarm: tuple[str, ...],
        attack: tuple[str, ...],
    ) -> Finding:
        surge_strength = 0.0
        if series.surges:
            smallest = max(min(s["p_value"] for s in series.surges), 1e-300)
            surge_strength = min(1.0, -math.log10(smallest) / 10)
        if assignment.kind == "defined":
            score = 0.3 + 0.7 * surge_strength
        else:
            score = 0.35 * surge_strength + 0.65 * series.state_share
        peak = max(series.daily, key=lambda d: (d["items"], d["day"]))
        surge_note = (
            f"surges on {', '.join(s['day'] for s in series.surges)}"
            if series.surges
            else "no surge"
        )
        summary = (
            f"{len(item_ids)} items over {series.active_days} days "
            f"(peak {peak['items']} on {peak['day']}), {series.accounts} accounts or outlets, "
            f"languages {', '.join(b['value'] for b in series.breakdown['lang'][:4]) or '?'}; "
            f"{surge_note}."
        )
        return Finding(
            id=finding_id(self.finding_type, assignment.key),
            type=self.finding_type,
            title=f"Narrative: {assignment.name}",
            summary=summary,
            score=round(score, 4),
            severity=severity_for(score),
            first_seen=series.first_seen,
            last_seen=series.last_seen,
            item_ids=tuple(item_ids[:MAX_FINDING_IDS]),
            account_ids=tuple(series.account_ids[:MAX_FINDING_IDS]),
            source_ids=tuple(series.source_ids[:MAX_FINDING_IDS]),
            disarm=disarm,
            attack=attack,
            evidence={
                "narrative": assignment.key,
                "kind": assignment.kind,
                "name": assignment.name,
                **assignment.description,
                "backend": self.params.backend,
                "items_total": len(item_ids),
                "daily": series.daily,
                "surges": series.surges,
                "test": series.test,
                "breakdown": series.breakdown,
                "examples": [
                    {"item_id": i, **series.excerpts[i]}
                    for i in item_ids[: self.params.examples]
                    if i in series.excerpts
                ],
            },
        )


COSINE_BLOCK = 8192
"""Texts whose cosines to the claims are computed at once (in float64: 25 MB per claim)."""


def _cosines(texts: np.ndarray, claims: np.ndarray) -> np.ndarray:
    """Cosines of texts to claims, in float64 rounded to 1e-9. A matrix product's summation
    order can depend on the matrix's shape, so a text compared alone (an incremental run) and
    among many (a full run) can differ in the last bits; rounding makes that reach a stored
    value or a threshold only when the exact value lies within about 1e-16 of a rounding
    boundary."""
    claims64 = claims.astype(np.float64).T
    out = np.empty((len(texts), len(claims)))
    for start in range(0, len(texts), COSINE_BLOCK):
        block = texts[start : start + COSINE_BLOCK].astype(np.float64)
        out[start : start + COSINE_BLOCK] = np.round(block @ claims64, 9)
    return out


def _per_item(units: Units, unit_scores_by_text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Items whose best text scores above −∞, with that best score."""
    scores = unit_scores_by_text[units.text_of]
    best = np.full(len(units.item_ids), -np.inf)
    np.maximum.at(best, units.item_of, scores)
    items = np.flatnonzero(np.isfinite(best))
    return items, best[items]


def _store_assignments(
    store: Store, units: Units, assigned: list[Assignment], replace: bool = True
) -> None:
    """``assigned`` as the stored assignments (``replace``), or as those of ``units``' items
    (any stored before for them, from a round that died before saving its findings, go)."""
    sizes = [len(a.items) for a in assigned]
    table = pa.table({
        "narrative": np.repeat([a.key for a in assigned], sizes).astype(str),
        "kind": np.repeat([a.kind for a in assigned], sizes).astype(str),
        "name": np.repeat([a.name for a in assigned], sizes).astype(str),
        "item_id": pa.array(units.item_ids, pa.string()).take(
            pa.array(np.concatenate([a.items for a in assigned] or [np.zeros(0, np.int64)]))
        ),
        "similarity": np.concatenate([a.similarity for a in assigned] or [np.zeros(0)]),
    })  # fmt: skip
    with store.transaction() as con:
        if replace:
            con.execute("DELETE FROM narrative_items")
        else:
            items = pa.table({"item_id": pa.array(units.item_ids, pa.string())})
            with store.registered("unit_items", items):
                con.execute(
                    "DELETE FROM narrative_items WHERE item_id IN (SELECT item_id FROM unit_items)"
                )
        con.register("assigned", table)
        con.execute(
            "INSERT INTO narrative_items SELECT narrative, kind, name, item_id, similarity "
            "FROM assigned"
        )
        con.unregister("assigned")
