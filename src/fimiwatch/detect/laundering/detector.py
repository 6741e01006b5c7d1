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
from fimiwatch.store import Store

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

    def run(self, store: Store) -> list[Finding]:
        copies = find_copies(store, self.params)
        disarm, attack = techniques_for(self.finding_type)
        by_copy: dict[str, list[Copy]] = defaultdict(list)
        for found in copies:
            by_copy[found.copy["id"]].append(found)
        findings = [
            self._copy_finding(pairs, disarm, attack) for _, pairs in sorted(by_copy.items())
        ]
        by_outlet: dict[str, list[Copy]] = defaultdict(list)
        for found in copies:
            if found.copy["source"]:
                by_outlet[found.copy["source"]].append(found)
        findings += [
            self._outlet_finding(outlet, pairs, disarm, attack)
            for outlet, pairs in sorted(by_outlet.items())
            if len({p.copy["id"] for p in pairs}) >= self.params.min_outlet_copies
        ]
        return findings

    def _copy_finding(
        self, pairs: list[Copy], disarm: tuple[str, ...], attack: tuple[str, ...]
    ) -> Finding:
        pairs = sorted(pairs, key=lambda p: (-p.origin_coverage, p.origin["id"]))
        best, copy = pairs[0], pairs[0].copy
        attributed = all(p.attributed for p in pairs)
        score = best.origin_coverage * min(1.0, best.similarity)
        score = round(score * (ATTRIBUTED_DISCOUNT if attributed else 1.0), 4)
        origins = ", ".join(f"{p.origin['source']} {p.origin['id']}" for p in pairs)
        credit = "names its origin" if attributed else "does not name its origin"
        summary = (
            f"{copy['source'] or 'an unknown outlet'} ({copy['lang'] or '?'}) reused "
            f"{best.origin_coverage:.0%} of {origins} ({best.origin['lang'] or '?'}), "
            f"{len(best.aligned)} passages aligned, {best.lag_seconds / 86400:.1f} days later; "
            f"it {credit}."
        )
        return Finding(
            id=finding_id(self.finding_type, f"copy\x1f{copy['id']}"),
            type=self.finding_type,
            title=f"{copy['source'] or copy['id']} republished {best.origin['source']} content"
            + ("" if attributed else " without attribution"),
            summary=summary,
            score=score,
            severity=severity_for(score),
            first_seen=min(p.origin["published_at"] for p in pairs),
            last_seen=copy["published_at"],
            item_ids=(*(p.origin["id"] for p in pairs), copy["id"]),
            source_ids=tuple(
                dict.fromkeys(s for p in pairs for s in (p.origin["source"], copy["source"]) if s)
            ),
            disarm=disarm,
            attack=attack,
            evidence={"pairs": [p.evidence_pair() for p in pairs]},
        )

    def _outlet_finding(
        self, outlet: str, pairs: list[Copy], disarm: tuple[str, ...], attack: tuple[str, ...]
    ) -> Finding:
        copies = {p.copy["id"]: p for p in sorted(pairs, key=lambda p: -p.origin_coverage)}
        count = len(copies)
        unattributed = sum(1 for p in copies.values() if not p.attributed) / count
        lag_days = statistics.median(p.lag_seconds for p in copies.values()) / 86400
        languages = sorted({p.copy["lang"] or "?" for p in copies.values()})
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
            item_ids=tuple(copies),
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
