"""The ``laundering`` detector: state-media articles republished by other outlets.

One finding per copy (its origins, aligned passages, coverage, lag, attribution), and one per
outlet that republished at least ``min_outlet_copies`` state articles (how many, the share
without attribution, median lag, languages), suggesting the registry label ``proxy``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import ClassVar

from fimiwatch.detect.base import Detector
from fimiwatch.detect.laundering.copies import Copy, find_copies
from fimiwatch.detect.laundering.params import LaunderingParams
from fimiwatch.findings import Finding, finding_id, severity_for
from fimiwatch.intel.disarm import techniques_for
from fimiwatch.store import Store, sql_literal

ATTRIBUTED_DISCOUNT = 0.6
"""Score factor for a copy that names its origin: reuse in the open is less alarming."""
PROXY_UNATTRIBUTED_SHARE = 0.5
"""An outlet whose republished state articles are mostly unattributed is suggested as proxy."""


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
        """Articles with text and a time. New ones mean a full run (their embeddings are
        cached, so only new texts are embedded): the stop-shingles and each passage's nearest
        origin passages are corpus-wide."""
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
        by_outlet: dict[str, list[Copy]] = defaultdict(list)
        for found in copies:
            if found.copy["source"]:
                by_outlet[found.copy["source"]].append(found)
        findings += [
            self._outlet_finding(outlet, pairs, disarm, attack)
            for outlet, pairs in sorted(by_outlet.items())
            if len(pairs) >= self.params.min_outlet_copies
        ]
        return findings

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
        self, outlet: str, pairs: list[Copy], disarm: tuple[str, ...], attack: tuple[str, ...]
    ) -> Finding:
        count = len(pairs)
        unattributed = sum(1 for p in pairs if not p.attributed) / count
        lag_days = statistics.median(p.lag_seconds for p in pairs) / 86400
        languages = sorted({p.copy["lang"] or "?" for p in pairs})
        origin_sources = sorted({p.origin["source"] for p in pairs})
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
            first_seen=min(p.copy["published_at"] for p in pairs),
            last_seen=max(p.copy["published_at"] for p in pairs),
            item_ids=tuple(sorted(p.copy["id"] for p in pairs)),
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
                    {"origin_id": p.origin["id"], "copy_id": p.copy["id"],
                     "attributed": p.attributed, "origin_coverage": round(p.origin_coverage, 4)}
                    for p in sorted(pairs, key=lambda p: (p.copy["id"], p.origin["id"]))
                ],
            },
        )  # fmt: skip
