"""The ``coordination`` detector: one finding per group of accounts that act together."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
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
EVIDENCE_COLUMNS = ("source", "target", "view", "weight")
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
        return Update.whole(self._findings(store, self.params, edges))

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
        size = len(group.accounts)
        # columnar: a large group has thousands of edges, and a store hundreds of groups
        strength = math.fsum(edges["score"].to_numpy()) * 2 / size
        score = 1 - math.exp(-strength / SCORE_SCALE)
        views = sorted(pc.unique(edges["view"]).to_pylist())
        items = _example_items(edges)
        lags = edges["median_lag"].drop_null().to_numpy()
        synchrony = float(np.median(lags)) if len(lags) else 0.0
        pairs = edges.group_by(["source", "target"], use_threads=False).aggregate([]).num_rows
        density = 2 * pairs / (size * (size - 1))
        shown = edges.slice(0, MAX_EVIDENCE_EDGES)
        summary = (
            f"{size} accounts took {pc.sum(edges['weight']).as_py()} shared actions "
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
            first_seen=pc.min(edges["first_seen"]).as_py(),
            last_seen=pc.max(edges["last_seen"]).as_py(),
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
                "mean_rarity": round(math.fsum(edges["rarity"].to_numpy()) / edges.num_rows, 3),
                "edges": [
                    list(edge)
                    for edge in zip(*(shown[c].to_pylist() for c in EVIDENCE_COLUMNS), strict=True)
                ],
                "edges_total": edges.num_rows,
            },
        )


def _example_items(edges: pa.Table) -> list[str]:
    """The first items of the strongest edges' earliest meetings (read a few edges at a time:
    a group can have thousands)."""
    seen: dict[str, None] = {}
    for start in range(0, edges.num_rows, EXAMPLE_ITEMS):
        for pairs in edges["examples"].slice(start, EXAMPLE_ITEMS).to_pylist():
            for pair in pairs:
                for item in pair:
                    seen.setdefault(item, None)
            if len(seen) >= EXAMPLE_ITEMS:
                return list(seen)[:EXAMPLE_ITEMS]
    return list(seen)


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
    with store.registered("group_accounts", table):
        rows = store.con.execute(
            """
            SELECT g.grp, count(*) AS posts, count(*) - count(DISTINCT i.text_key) AS repeated
            FROM items i JOIN group_accounts g ON i.account_id = g.account
            WHERE i.published_at BETWEEN g.first_seen AND g.last_seen AND i.text_key IS NOT NULL
            GROUP BY g.grp
            """
        ).fetchall()
    shares = [0.0] * len(groups)
    for grp, posts, repeated in rows:
        shares[grp] = repeated / posts if posts else 0.0
    return shares
