"""The ``coordination`` detector: one finding per group of accounts that act together."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from fimiwatch.detect.base import Change, Detector, Update
from fimiwatch.detect.coordination.edges import resolve_params
from fimiwatch.detect.coordination.groups import Group, find_groups
from fimiwatch.detect.coordination.incremental import rebuild_edges, update_edges
from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.detect.state import latest_ingest
from fimiwatch.findings import Finding, finding_id, severity_for
from fimiwatch.intel.disarm import techniques_for
from fimiwatch.store import Store

MAX_EVIDENCE_EDGES = 500
EXAMPLE_ITEMS = 20
SCORE_SCALE = 20.0
"""Mean per-account edge score at which a group scores 1 − 1/e ≈ 0.63 (see docs)."""


class CoordinationDetector(Detector):
    """Groups of accounts that repeatedly take the same rare action within seconds."""

    name: ClassVar[str] = "coordination"
    finding_type: ClassVar[str] = "coordination"
    description: ClassVar[str] = __doc__ or ""
    Params: ClassVar[type] = CoordinationParams
    params: CoordinationParams

    def validate(self) -> None:
        self.params.validate()

    def reads(self) -> str:
        """Posts with an account and a time."""
        return "account_id IS NOT NULL AND published_at IS NOT NULL"

    def run(self, store: Store) -> list[Finding]:
        params = resolve_params(store, self.params)
        edges = rebuild_edges(store, params, latest_ingest(store))
        return self._findings(store, params, edges)

    def update(self, store: Store, change: Change) -> Update | None:
        """New posts are keyed and only the keys they touch ranked again; the chance model and
        the groups are corpus-wide, so every group is recomputed and replaces the old ones."""
        edges = update_edges(store, self.params, change.through_ingest)
        if edges is None:
            return None
        stale = store.con.execute(
            "SELECT id FROM findings WHERE detector = ?", [self.name]
        ).fetchall()
        return Update.of(self._findings(store, self.params, edges), (row[0] for row in stale))

    def _findings(self, store: Store, params: CoordinationParams, edges: pa.Table) -> list[Finding]:
        groups = find_groups(edges, params.min_group_size, params.resolution, params.seed)
        disarm, attack = techniques_for(self.finding_type)
        uniformity = _content_uniformity(store, groups)
        return [
            self._finding(group, share, params.window_seconds, disarm, attack)
            for group, share in zip(groups, uniformity, strict=True)
        ]

    def _finding(
        self,
        group: Group,
        uniformity: float,
        window: int,
        disarm: tuple[str, ...],
        attack: tuple[str, ...],
    ) -> Finding:
        edges = group.edges.sort_by([("score", "descending"), ("source", "ascending")])
        rows = edges.to_pylist()
        size = len(group.accounts)
        strength = sum(r["score"] for r in rows) * 2 / size
        score = 1 - math.exp(-strength / SCORE_SCALE)
        views = sorted({r["view"] for r in rows})
        items = _example_items(rows)
        synchrony = _median([r["median_lag"] for r in rows])
        density = 2 * len({(r["source"], r["target"]) for r in rows}) / (size * (size - 1))
        summary = (
            f"{size} accounts took {sum(r['weight'] for r in rows)} shared actions "
            f"({', '.join(views)}) within {window} s of each other; "
            f"median lag {synchrony:.0f} s, {uniformity:.0%} of their posts repeat another's text."
        )
        return Finding(
            id=finding_id(self.finding_type, "\x1f".join(group.accounts)),
            type=self.finding_type,
            title=f"Coordinated group of {size} accounts ({', '.join(views)})",
            summary=summary,
            score=round(score, 4),
            severity=severity_for(score),
            first_seen=min(r["first_seen"] for r in rows),
            last_seen=max(r["last_seen"] for r in rows),
            item_ids=tuple(items),
            account_ids=group.accounts,
            disarm=disarm,
            attack=attack,
            evidence={
                "network_types": views,
                "window_seconds": window,
                "size": size,
                "density": round(density, 4),
                "synchrony_seconds": synchrony,
                "content_uniformity": round(uniformity, 4),
                "mean_rarity": round(sum(r["rarity"] for r in rows) / len(rows), 3),
                "edges": [
                    [r["source"], r["target"], r["view"], r["weight"]]
                    for r in rows[:MAX_EVIDENCE_EDGES]
                ],
                "edges_total": len(rows),
            },
        )


def _example_items(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for pair in row["examples"]:
            for item in pair:
                seen.setdefault(item, None)
        if len(seen) >= EXAMPLE_ITEMS:
            break
    return list(seen)[:EXAMPLE_ITEMS]


def _median(values: list[float]) -> float:
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


def _content_uniformity(store: Store, groups: list[Group]) -> list[float]:
    """Per group, the share of its posts in its active span whose text another of its posts
    repeats (texts compared by ``text_key``, as the co-post view compares them: case, @mentions
    and spacing ignored). One query for all groups: an account is in one group at most."""
    if not groups:
        return []
    spans = [(pc.min(g.edges["first_seen"]).as_py(), pc.max(g.edges["last_seen"]).as_py())
             for g in groups]  # fmt: skip
    member = [(n, account) for n, group in enumerate(groups) for account in group.accounts]
    table = pa.table({
        "grp": [n for n, _ in member],
        "account": [account for _, account in member],
        "first_seen": [spans[n][0] for n, _ in member],
        "last_seen": [spans[n][1] for n, _ in member],
    })  # fmt: skip
    store.con.register("group_accounts", table)
    try:
        rows = store.con.execute(
            """
            SELECT g.grp, count(*) AS posts, count(*) - count(DISTINCT i.text_key) AS repeated
            FROM items i JOIN group_accounts g ON i.account_id = g.account
            WHERE i.published_at BETWEEN g.first_seen AND g.last_seen AND i.text_key IS NOT NULL
            GROUP BY g.grp
            """
        ).fetchall()
    finally:
        store.con.unregister("group_accounts")
    shares = [0.0] * len(groups)
    for grp, posts, repeated in rows:
        shares[grp] = repeated / posts if posts else 0.0
    return shares
