"""The ``recruitment`` detector: reported professional-network profiles triaged
(``triage/profile.py``) and grouped into campaigns.

Two profiles belong to one campaign when they work for the same company (its name without legal
suffixes) or their first messages are near-duplicates (RapidFuzz token-set ratio ≥
``template_similarity``: one template with the names changed). A campaign of two or more
profiles, at least one of them ``medium`` or ``high``, is one finding — a campaign, not isolated
cases; a ``medium`` or ``high`` profile in no campaign is a finding of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations
from typing import Any, ClassVar

import orjson
from rapidfuzz import fuzz

from fimiwatch.detect.base import Detector
from fimiwatch.findings import Finding, finding_id, severity_for
from fimiwatch.intel.disarm import techniques_for
from fimiwatch.store import Store
from fimiwatch.triage.profile import triage_profile

LEGAL_SUFFIX = re.compile(
    r"[,.]?\s+(?:ltd|limited|llc|inc|gmbh|s\.?r\.?o|a\.?s|pte|plc|sa|bv|ag|co)\.?$", re.I
)


@dataclass(frozen=True)
class RecruitmentParams:
    template_similarity: float = 85.0
    """RapidFuzz token-set ratio (0–100) at which two first messages are one template."""
    campaign_bonus: float = 0.05
    """Added to the campaign's score per profile beyond the first (capped at 1)."""


@dataclass
class Triaged:
    id: str
    profile: dict[str, Any]
    verdict: dict[str, Any]

    @property
    def company(self) -> str:
        current = [j for j in self.profile.get("experience") or []
                   if isinstance(j, dict) and not j.get("end") and j.get("company")]  # fmt: skip
        if not current:
            return ""
        name = str(current[0]["company"]).strip().lower()
        while (stripped := LEGAL_SUFFIX.sub("", name)) != name:
            name = stripped
        return name

    @property
    def first_message(self) -> str:
        for message in self.profile.get("messages") or []:
            if isinstance(message, dict) and message.get("direction") != "out":
                return str(message.get("text") or "")[:5000]
        return ""


class RecruitmentDetector(Detector):
    """Intelligence approaches through fake professional-network profiles, as campaigns."""

    name: ClassVar[str] = "recruitment"
    finding_type: ClassVar[str] = "recruitment"
    description: ClassVar[str] = __doc__ or ""
    Params: ClassVar[type] = RecruitmentParams
    params: RecruitmentParams

    def reads(self) -> str:
        """Profiles; new ones mean a full run, as campaigns group all profiles."""
        return """extra LIKE '%"profile"%'"""

    def run(self, store: Store) -> list[Finding]:
        profiles = []
        for row in store.rows("SELECT id, extra FROM items WHERE extra LIKE '%\"profile\"%' "
                              "ORDER BY id"):  # fmt: skip
            profile = (orjson.loads(row["extra"]) or {}).get("profile")
            if isinstance(profile, dict):
                profiles.append(Triaged(row["id"], profile, triage_profile(profile).to_dict()))
        disarm, attack = techniques_for(self.finding_type)
        findings = []
        for group, links in self._campaigns(profiles):
            flagged = [p for p in group if p.verdict["verdict"] != "low"]
            if len(group) > 1 and flagged:
                findings.append(self._campaign(group, links, disarm, attack))
            elif len(group) == 1 and flagged:
                findings.append(self._single(group[0], disarm, attack))
        return findings

    def _campaigns(
        self, profiles: list[Triaged]
    ) -> list[tuple[list[Triaged], list[dict[str, str]]]]:
        parent = list(range(len(profiles)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        links = []
        for (i, a), (j, b) in combinations(enumerate(profiles), 2):
            why = None
            if a.company and a.company == b.company:
                why = f"same company: {a.company}"
            elif a.first_message and b.first_message:
                similarity = fuzz.token_set_ratio(a.first_message, b.first_message)
                if similarity >= self.params.template_similarity:
                    why = f"first messages {similarity:.0f}% alike (one template)"
            if why:
                parent[root(i)] = root(j)
                links.append((i, j, why))
        groups: dict[int, list[int]] = {}
        for i in range(len(profiles)):
            groups.setdefault(root(i), []).append(i)
        return [
            ([profiles[i] for i in members],
             [{"a": profiles[i].id, "b": profiles[j].id, "why": why}
              for i, j, why in links if root(i) == key])
            for key, members in sorted(groups.items(), key=lambda kv: profiles[kv[1][0]].id)
        ]  # fmt: skip

    def _campaign(
        self,
        group: list[Triaged],
        links: list[dict[str, str]],
        disarm: tuple[str, ...],
        attack: tuple[str, ...],
    ) -> Finding:
        best = max(p.verdict["score"] for p in group)
        score = round(min(1.0, best + self.params.campaign_bonus * (len(group) - 1)), 4)
        companies = sorted({p.company for p in group if p.company})
        ids = sorted(p.id for p in group)
        return Finding(
            id=finding_id(self.finding_type, "campaign\x1f" + "\x1f".join(ids)),
            type=self.finding_type,
            title=f"Recruitment campaign: {len(group)} profiles"
            + (f" of {', '.join(companies)}" if companies else ""),
            summary=(
                f"{len(group)} profiles linked by company or message template; verdicts "
                + ", ".join(
                    f"{p.profile.get('name') or p.id}: {p.verdict['verdict']}"
                    for p in sorted(group, key=lambda p: p.id)
                )
                + "."
            ),
            score=score,
            severity=severity_for(score),
            item_ids=tuple(ids),
            account_ids=tuple(ids),
            disarm=disarm,
            attack=tuple(sorted(set(attack) | {a for p in group for a in p.verdict["attack"]})),
            evidence={
                "profiles": [self._summary(p) for p in sorted(group, key=lambda p: p.id)],
                "links": links,
                "companies": companies,
            },
        )

    def _single(
        self, triaged: Triaged, disarm: tuple[str, ...], attack: tuple[str, ...]
    ) -> Finding:
        verdict = triaged.verdict
        name = triaged.profile.get("name") or triaged.id
        return Finding(
            id=finding_id(self.finding_type, triaged.id),
            type=self.finding_type,
            title=f"Possible recruitment approach: {name} ({verdict['verdict']})",
            summary="; ".join(i["description"] for i in verdict["indicators"][:4]) + ".",
            score=verdict["score"],
            severity=severity_for(verdict["score"]),
            item_ids=(triaged.id,),
            account_ids=(triaged.id,),
            disarm=disarm,
            attack=tuple(sorted(set(attack) | set(verdict["attack"]))),
            evidence={"profiles": [self._summary(triaged)], "links": []},
        )

    @staticmethod
    def _summary(triaged: Triaged) -> dict[str, Any]:
        return {"id": triaged.id, "name": triaged.profile.get("name"),
                "company": triaged.company, **triaged.verdict}  # fmt: skip
