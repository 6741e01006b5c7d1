"""The ``targeting`` detector: watched people and organisations named by the channels of
interference — state-affiliated or proxy outlets, laundered articles, coordinated accounts —
with smear framing raising the score.

It reads what earlier steps wrote: ``mentions`` of watchlist targets (enrichment; names in any
declined form, ``enrich/declension.py``), the source registry's affiliations, and this run's
``laundering`` and ``coordination`` findings (detectors run in name order, so both precede
this one). One finding per target named in at least one channel.

Score: c = noisy-OR of the channels present (state or proxy outlet 0.4, laundered copy 0.4,
coordinated account 0.5); v = min(1, log10(1 + items) / 2) (a hundred items is full volume);
s = share of those items with smear framing. Score = min(1, c·(0.5 + 0.5·v) + 0.3·s).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

from fimiwatch.detect.base import Change, Detector, Update
from fimiwatch.findings import Finding, finding_id, severity_for
from fimiwatch.intel.disarm import techniques_for
from fimiwatch.store import Store

CHANNEL_WEIGHTS = {"state": 0.4, "laundered": 0.4, "coordinated": 0.5}
STATE_AFFILIATIONS = ("state_media", "state_affiliated", "government", "diplomat", "proxy")
SMEAR_TERMS: dict[str, str] = {
    # label: pattern (case-insensitive; word prefixes where a name or noun declines)
    "trojan horse": r"trojan horse|trojsk\w* k[ůo]\w*|trójsk\w* k[ôo]\w*|trojanisch\w* pferd|"
                    r"cheval de troie|ko[nń]\w* troja\w*|trojos arkl\w*",
    "CIA agent": r"\bagent\w* (?:of the |der |de la |)?CIA\b|\bCIA[- ]agent\w*",
    "foreign agent": r"foreign agent|zahraniční agent\w*|ausländisch\w* agent\w*|"
                     r"agent de l'étranger",
    "puppet": r"puppet|loutk\w*|bábk\w*|marionet\w*|marionnette",
    "traitor": r"traitor|zrád\w*|zrad\w*|verräter\w*|traître\w*|zdrajc\w*|išdavik\w*",
    "sellout": r"sell-?out|prodan\w*|zaprodan\w*|handlanger\w*|lackey|sluh\w* washington\w*",
    "spy": r"\bspy\b|\bšpion\w*|\bszpieg\w*|\bespion\w*|\bšnip\w*",
}  # fmt: skip
SMEAR = {label: re.compile(pattern, re.IGNORECASE) for label, pattern in SMEAR_TERMS.items()}
MAX_LISTED = 1000
MAX_EVIDENCE_ITEMS = 200

MENTIONED_SQL = """
    SELECT m.entity, i.id, i.source, i.account_id, i.published_at, i.lang,
           coalesce(s.affiliation, 'unknown') AS affiliation,
           concat_ws(chr(10), i.title, i.text) AS document,
           list(DISTINCT m.matched ORDER BY m.matched) AS matched
    FROM mentions m JOIN items i ON i.id = m.item_id
    LEFT JOIN sources s ON s.source = i.source
    WHERE m.kind = 'target' AND {entities}
    GROUP BY ALL ORDER BY m.entity, i.published_at, i.id
"""

TOUCHED_SQL = """
    SELECT DISTINCT m.entity FROM mentions m JOIN items i ON i.id = m.item_id
    WHERE m.kind = 'target' AND (i.ingest_id > $after AND i.ingest_id <= $through
        OR list_contains($items, i.id) OR list_contains($accounts, i.account_id))
    ORDER BY 1
"""
"""Targets named by a new item, or by an item or account whose channels may have changed (its
laundering or coordination finding did)."""


@dataclass(frozen=True)
class TargetingParams:
    min_items: int = 1
    """Channel items a target needs for a finding."""


class TargetingDetector(Detector):
    """Watched targets named by state or proxy outlets, laundered content or coordinated
    accounts; smear framing ("Trojan horse", "CIA agent", "puppet"…) raises the score."""

    name: ClassVar[str] = "targeting"
    finding_type: ClassVar[str] = "targeting"
    description: ClassVar[str] = __doc__ or ""
    Params: ClassVar[type] = TargetingParams
    params: TargetingParams
    depends_on: ClassVar[tuple[str, ...]] = ("coordination", "laundering")

    def run(self, store: Store) -> list[Finding]:
        return self._targets(store, None)

    def reads(self) -> str:
        return "id IN (SELECT item_id FROM mentions WHERE kind = 'target')"

    def update(self, store: Store, change: Change) -> Update:
        """Each target's finding depends on its own mentions only: the targets that new items
        name, or items and accounts whose channels changed, are recomputed."""
        touched = [row[0] for row in store.con.execute(TOUCHED_SQL, {
            "after": change.after_ingest, "through": change.through_ingest,
            "items": sorted(change.items), "accounts": sorted(change.accounts),
        }).fetchall()]  # fmt: skip
        replaced = [finding_id(self.finding_type, entity) for entity in touched]
        return Update.of(self._targets(store, touched) if touched else [], replaced)

    def _targets(self, store: Store, entities: list[str] | None) -> list[Finding]:
        """The findings of ``entities`` (all targets: None)."""
        laundered = _finding_members(store, "laundering", "item_ids")
        coordinated = _finding_members(store, "coordination", "account_ids")
        by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
        condition = "TRUE" if entities is None else "list_contains(?, m.entity)"
        parameters = None if entities is None else [entities]
        for row in store.rows(MENTIONED_SQL.format(entities=condition), parameters):
            channels = [
                name
                for name, present in (
                    ("state", row["affiliation"] in STATE_AFFILIATIONS),
                    ("laundered", row["id"] in laundered),
                    ("coordinated", row["account_id"] in coordinated),
                )
                if present
            ]
            if channels:
                smears = sorted(k for k, p in SMEAR.items() if p.search(row["document"] or ""))
                by_target[row["entity"]].append({**row, "channels": channels, "smear": smears})
        disarm, attack = techniques_for(self.finding_type)
        return [
            self._finding(entity, rows, disarm, attack)
            for entity, rows in sorted(by_target.items())
            if len(rows) >= self.params.min_items
        ]

    def _finding(
        self,
        entity: str,
        rows: list[dict[str, Any]],
        disarm: tuple[str, ...],
        attack: tuple[str, ...],
    ) -> Finding:
        kind, _, name = entity.partition(":")
        channels = Counter(c for r in rows for c in r["channels"])
        terms = Counter(t for r in rows for t in r["smear"])
        smeared = sum(1 for r in rows if r["smear"])
        reach = 1 - math.prod(1 - CHANNEL_WEIGHTS[c] for c in channels)
        volume = min(1.0, math.log10(1 + len(rows)) / 2)
        share = smeared / len(rows)
        score = round(min(1.0, reach * (0.5 + 0.5 * volume) + 0.3 * share), 4)
        sources = Counter(r["source"] for r in rows if r["source"])
        accounts = sorted({r["account_id"] for r in rows if r["account_id"]})
        how = ", ".join(f"{n} via {c}" for c, n in sorted(channels.items()))
        common = ", ".join(term for term, _ in terms.most_common(3))
        framing = f"; {smeared} with smear framing ({common})" if smeared else ""
        return Finding(
            id=finding_id(self.finding_type, entity),
            type=self.finding_type,
            title=f"{name} targeted" + (" with smear framing" if smeared else ""),
            summary=f"{name} ({kind}) is named in {len(rows)} items of interference channels: "
            f"{how}{framing}.",
            score=score,
            severity=severity_for(score),
            first_seen=rows[0]["published_at"],
            last_seen=rows[-1]["published_at"],
            item_ids=tuple(r["id"] for r in rows[:MAX_LISTED]),
            account_ids=tuple(accounts[:MAX_LISTED]),
            source_ids=tuple(sorted(sources)[:MAX_LISTED]),
            targets=(name,),
            disarm=disarm,
            attack=attack,
            evidence={
                "target": name,
                "target_kind": kind,
                "channels": dict(sorted(channels.items())),
                "items_total": len(rows),
                "smear_items": smeared,
                "smear_terms": dict(terms.most_common()),
                "sources": dict(sources.most_common()),
                "items": [
                    {"item_id": r["id"], "channels": r["channels"], "smear": r["smear"],
                     "source": r["source"], "account_id": r["account_id"],
                     "affiliation": r["affiliation"], "matched": r["matched"],
                     "published_at": r["published_at"].isoformat() if r["published_at"] else None}
                    for r in rows[:MAX_EVIDENCE_ITEMS]
                ],
            },
        )  # fmt: skip


def _finding_members(store: Store, finding_type: str, column: str) -> set[str]:
    rows = store.con.execute(
        f"SELECT DISTINCT unnest({column}) FROM findings WHERE type = ?", [finding_type]
    ).fetchall()
    return {value for (value,) in rows if value}
