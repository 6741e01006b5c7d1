"""The ``laundering`` detector: state-media articles republished by other outlets.

One finding per copy (its origins, aligned passages, coverage, lag, attribution), and one per
outlet that republished at least ``min_outlet_copies`` state articles (how many, the share
without attribution, median lag, languages), suggesting the registry label ``proxy``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import orjson

from fimiwatch.detect.base import Change, Detector, Update
from fimiwatch.detect.laundering.copies import Copy, find_copies, shingle_limit_crossed
from fimiwatch.detect.laundering.params import LaunderingParams
from fimiwatch.findings import Finding, finding_id, severity_for
from fimiwatch.intel.disarm import techniques_for
from fimiwatch.store import Store, sql_literal

ATTRIBUTED_DISCOUNT = 0.6
"""Score factor for a copy that names its origin: reuse in the open is less alarming."""
PROXY_UNATTRIBUTED_SHARE = 0.5
"""An outlet whose republished state articles are mostly unattributed is suggested as proxy."""


ARTICLES_CTE = """
    WITH articles AS (
        SELECT i.id, i.ingest_id, i.published_at,
            coalesce(s.affiliation, 'unknown') IN (SELECT unnest($origins)) AS is_origin
        FROM (SELECT * FROM items WHERE {articles}) i LEFT JOIN sources s ON s.source = i.source
    )"""
"""The articles a detector run reads, each marked origin or candidate."""

AFFECTED_SQL = (
    ARTICLES_CTE
    + """,
    new_origins AS (
        SELECT published_at FROM articles
        WHERE is_origin AND ingest_id > $after AND ingest_id <= $through
    )
    SELECT (SELECT count(*) FROM new_origins), coalesce(list(id ORDER BY id) FILTER (
        WHERE NOT is_origin AND (ingest_id > $after AND ingest_id <= $through
            OR EXISTS (SELECT 1 FROM new_origins o WHERE o.published_at < a.published_at
                       AND a.published_at <= o.published_at + to_seconds($lag))
        )), [])
    FROM articles a
"""
)
"""How many origins are new, and the candidates to examine again: the new ones, and those a new
origin could be the source of."""

WINDOW_SQL = (
    ARTICLES_CTE
    + """,
    changed AS (SELECT published_at FROM articles WHERE list_contains($changed, id))
    SELECT coalesce(list(id ORDER BY id), []) FROM articles a
    WHERE NOT is_origin AND EXISTS (
        SELECT 1 FROM changed o
        WHERE o.published_at < a.published_at
            AND a.published_at <= o.published_at + to_seconds($lag)
    )
"""
)
"""The candidates that the origins ``$changed`` could be the source of."""


@dataclass(frozen=True)
class Republished:
    """One copy as its outlet's finding counts it: from this run's ``Copy`` or from a stored
    copy finding (an incremental run recounts an outlet without re-examining its old copies)."""

    copy_id: str
    origin_id: str
    origin_source: str
    copy_lang: str | None
    copy_published_at: datetime
    lag_seconds: float
    attributed: bool
    origin_coverage: float

    @classmethod
    def of(cls, pair: Copy) -> Republished:
        return cls(pair.copy["id"], pair.origin["id"], pair.origin["source"], pair.copy["lang"],
                   pair.copy["published_at"], pair.lag_seconds, pair.attributed,
                   round(pair.origin_coverage, 4))  # fmt: skip

    @classmethod
    def stored(cls, pair: dict[str, Any], published_at: datetime) -> Republished:
        return cls(pair["copy_id"], pair["origin_id"], pair["origin_source"], pair["copy_lang"],
                   published_at, pair["lag_seconds"], pair["attributed"],
                   pair["origin_coverage"])  # fmt: skip


class LaunderingDetector(Detector):
    """State-media articles reused, translated or not, by other outlets; attribution checked."""

    name: ClassVar[str] = "laundering"
    finding_type: ClassVar[str] = "laundering"
    description: ClassVar[str] = __doc__ or ""
    Params: ClassVar[type] = LaunderingParams
    params: LaunderingParams

    def validate(self) -> None:
        self.params.validate()

    def reads(self) -> str:
        """Articles with text and a time (origins and candidates alike)."""
        platforms = ", ".join(sql_literal(p) for p in self.params.platforms)
        return f"platform IN ({platforms}) AND text IS NOT NULL AND published_at IS NOT NULL"

    def run(self, store: Store) -> list[Finding]:
        copies = find_copies(store, self.params)
        disarm, attack = techniques_for(self.finding_type)
        # find_copies keeps one origin per copy: one finding per pair
        findings = [
            self._copy_finding(pair, disarm, attack)
            for pair in sorted(copies, key=lambda p: p.copy["id"])
        ]
        by_outlet: dict[str, list[Republished]] = defaultdict(list)
        for found in copies:
            if found.copy["source"]:
                by_outlet[found.copy["source"]].append(Republished.of(found))
        return findings + self._outlet_findings(by_outlet, disarm, attack)

    def update(self, store: Store, change: Change) -> Update | None:
        """Only the candidates a new item can change are examined: new candidates, and those
        within the look-back after a new origin (a copy's direct result depends on the origins
        before it, not on other candidates: ``match.py``). Copies found through another copy
        (``copies.py``, step 5) also depend on the direct copies of their origin: the stored
        ones are examined with the affected candidates, and where an affected candidate
        becomes, or stops being, a direct copy, every candidate of that origin is examined
        again. None (a full run) when new origins change which shingles are too common to
        count."""
        new_origins, affected = self._affected(store, change)
        if new_origins and shingle_limit_crossed(store, self.params, change.after_ingest):
            return None
        pivoting = self.params.pivot_gap() is not None
        vias = self._stored_direct_copies(store, affected) if pivoting else {}
        copies = self._examine(store, affected, vias)
        now = {(c.copy["id"], c.origin["id"]) for c in copies if c.via is None}
        is_affected = set(affected)
        before = {(c, o) for c, o in vias.items() if c in is_affected}
        changed = sorted({origin for _, origin in now ^ before}) if pivoting else []
        if changed:
            affected = sorted(set(affected) | set(self._window(store, changed)))
            vias = self._stored_direct_copies(store, affected)
            copies = self._examine(store, affected, vias)
        disarm, attack = techniques_for(self.finding_type)
        findings = [
            self._copy_finding(pair, disarm, attack)
            for pair in sorted(copies, key=lambda p: p.copy["id"])
        ]
        replaced = {finding_id(self.finding_type, f"copy\x1f{item}") for item in affected}
        outlets = sorted(set(store.con.execute(
            "SELECT DISTINCT source FROM items WHERE list_contains(?, id) AND source <> ''",
            [affected],
        ).fetchall()))  # fmt: skip
        by_outlet: dict[str, list[Republished]] = {outlet: [] for (outlet,) in outlets}
        for found in copies:
            if found.copy["source"]:  # as in run(): a copy of no known outlet counts for none
                by_outlet[found.copy["source"]].append(Republished.of(found))
        for row in store.rows(  # the stored copies of those outlets not examined again
            "SELECT evidence, last_seen FROM findings WHERE detector = ? "
            "AND list_contains(?, json_extract_string(evidence, '$.pairs[0].copy_source')) "
            "AND NOT list_contains(?, json_extract_string(evidence, '$.pairs[0].copy_id')) "
            "AND json_extract_string(evidence, '$.outlet') IS NULL",
            [self.name, list(by_outlet), affected],
        ):
            pair = orjson.loads(row["evidence"])["pairs"][0]
            by_outlet[pair["copy_source"]].append(Republished.stored(pair, row["last_seen"]))
        replaced |= {finding_id(self.finding_type, f"outlet\x1f{o}") for o in by_outlet}
        return Update.of(findings + self._outlet_findings(by_outlet, disarm, attack), replaced)

    def _examine(self, store: Store, affected: list[str], vias: dict[str, str]) -> list[Copy]:
        """The copies among the ``affected`` candidates, examined with the stored direct copies
        (``vias``) they may be found through (``copies.py``, step 5)."""
        if not affected:
            return []
        is_affected = set(affected)
        copies = find_copies(store, self.params, sorted(is_affected | set(vias)))
        return [c for c in copies if c.copy["id"] in is_affected]

    def _window(self, store: Store, origins: list[str]) -> list[str]:
        """The candidates published within the look-back after one of ``origins``."""
        found: list[str] = store.con.execute(
            WINDOW_SQL.format(articles=self.reads()),
            {"origins": list(self.params.origin_affiliations), "changed": origins,
             "lag": self.params.max_lag_days * 86400},
        ).fetchall()[0][0]  # fmt: skip
        return found

    def _stored_direct_copies(self, store: Store, affected: list[str]) -> dict[str, str]:
        """Copy id → origin id of the stored copies found directly (not through another copy)
        whose origin the affected candidates could copy: the vias a candidate may be found
        through."""
        if not affected:
            return {}
        return dict(store.con.execute(
            "SELECT json_extract_string(evidence, '$.pairs[0].copy_id'), "
            "json_extract_string(evidence, '$.pairs[0].origin_id') FROM findings "
            "WHERE detector = ? AND json_extract_string(evidence, '$.outlet') IS NULL "
            "AND json_extract_string(evidence, '$.pairs[0].via_id') IS NULL "
            "AND first_seen >= (SELECT min(published_at) FROM items WHERE list_contains(?, id)) "
            "- to_seconds(?)",
            [self.name, affected, self.params.max_lag_days * 86400],
        ).fetchall())  # fmt: skip

    def _affected(self, store: Store, change: Change) -> tuple[bool, list[str]]:
        """Whether new origins arrived, and the candidates to examine again (one scan)."""
        new_origins, affected = store.con.execute(
            AFFECTED_SQL.format(articles=self.reads()),
            {"after": change.after_ingest, "through": change.through_ingest,
             "origins": list(self.params.origin_affiliations),
             "lag": self.params.max_lag_days * 86400},
        ).fetchall()[0]  # fmt: skip
        return bool(new_origins), list(affected)

    def _outlet_findings(
        self,
        by_outlet: dict[str, list[Republished]],
        disarm: tuple[str, ...],
        attack: tuple[str, ...],
    ) -> list[Finding]:
        return [
            self._outlet_finding(outlet, pairs, disarm, attack)
            for outlet, pairs in sorted(by_outlet.items())
            if len(pairs) >= self.params.min_outlet_copies
        ]

    def _copy_finding(
        self, pair: Copy, disarm: tuple[str, ...], attack: tuple[str, ...]
    ) -> Finding:
        origin, copy = pair.origin, pair.copy
        score = pair.origin_coverage * min(1.0, pair.similarity)
        score = round(score * (ATTRIBUTED_DISCOUNT if pair.attributed else 1.0), 4)
        credit = "names its origin" if pair.attributed else "does not name its origin"
        summary = (
            f"{copy['source'] or 'an unknown outlet'} ({copy['lang'] or '?'}) reused "
            f"{pair.origin_coverage:.0%} of {origin['source']} {origin['id']} "
            f"({origin['lang'] or '?'}), {len(pair.aligned)} passages aligned, "
            f"{pair.lag_seconds / 86400:.1f} days later; it {credit}."
        )
        if pair.via:
            via = f"{pair.via['source'] or 'an unknown outlet'} {pair.via['id']}"
            summary += f" Found through another copy: {via}."
        return Finding(
            id=finding_id(self.finding_type, f"copy\x1f{copy['id']}"),
            type=self.finding_type,
            title=f"{copy['source'] or copy['id']} republished {origin['source']} content"
            + ("" if pair.attributed else " without attribution"),
            summary=summary,
            score=score,
            severity=severity_for(score),
            first_seen=origin["published_at"],
            last_seen=copy["published_at"],
            item_ids=(origin["id"], copy["id"]),
            source_ids=tuple(dict.fromkeys(s for s in (origin["source"], copy["source"]) if s)),
            disarm=disarm,
            attack=attack,
            evidence={"pairs": [pair.evidence_pair()]},
        )

    def _outlet_finding(
        self,
        outlet: str,
        pairs: list[Republished],
        disarm: tuple[str, ...],
        attack: tuple[str, ...],
    ) -> Finding:
        count = len(pairs)
        unattributed = sum(1 for p in pairs if not p.attributed) / count
        lag_days = statistics.median(p.lag_seconds for p in pairs) / 86400
        languages = sorted({p.copy_lang or "?" for p in pairs})
        origin_sources = sorted({p.origin_source for p in pairs})
        suggestion = "proxy" if unattributed >= PROXY_UNATTRIBUTED_SHARE else None
        score = round(min(1.0, count / 10) * (0.5 + 0.5 * unattributed), 4)
        return Finding(
            id=finding_id(self.finding_type, f"outlet\x1f{outlet}"),
            type=self.finding_type,
            title=f"{outlet} republished {count} state-media articles",
            summary=(
                f"{outlet} republished {count} articles of {', '.join(origin_sources)}; "
                f"{unattributed:.0%} without attribution, median {lag_days:.1f} days later, "
                f"in {', '.join(languages)}"
                + (f". Suggested registry label: {suggestion}." if suggestion else ".")
            ),
            score=score,
            severity=severity_for(score),
            first_seen=min(p.copy_published_at for p in pairs),
            last_seen=max(p.copy_published_at for p in pairs),
            item_ids=tuple(sorted(p.copy_id for p in pairs)),
            source_ids=(outlet, *origin_sources),
            disarm=disarm,
            attack=attack,
            evidence={
                "outlet": outlet,
                "republished": count,
                "unattributed_share": round(unattributed, 4),
                "median_lag_seconds": lag_days * 86400,
                "languages": languages,
                "origin_sources": origin_sources,
                "suggested_affiliation": suggestion,
                "pairs": [
                    {"origin_id": p.origin_id, "copy_id": p.copy_id,
                     "attributed": p.attributed, "origin_coverage": p.origin_coverage}
                    for p in sorted(pairs, key=lambda p: (p.copy_id, p.origin_id))
                ],
            },
        )  # fmt: skip
