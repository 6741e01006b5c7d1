"""Account groups from the multi-view edge network (Leiden communities)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Group:
    accounts: tuple[str, ...]
    edges: pa.Table
    """The edges (all views) between members of the group."""


def find_groups(edges: pa.Table, min_size: int, resolution: float, seed: int) -> list[Group]:
    """Leiden (modularity) on the account graph whose pair weight sums the edge scores of every
    view, so pairs that coordinate in several ways hold together more strongly."""
    import igraph  # here, not at the top: igraph loads matplotlib (~0.6 s)
    import leidenalg

    if edges.num_rows == 0:
        return []
    pairs = (
        edges.group_by(["source", "target"], use_threads=False)  # same sums every run
        .aggregate([("score", "sum")])
        .sort_by([("source", "ascending"), ("target", "ascending")])
    )
    accounts = sorted(set(pairs["source"].to_pylist()) | set(pairs["target"].to_pylist()))
    index = {name: i for i, name in enumerate(accounts)}
    graph = igraph.Graph(
        n=len(accounts),
        edges=[
            (index[s], index[t])
            for s, t in zip(pairs["source"].to_pylist(), pairs["target"].to_pylist(), strict=True)
        ],
    )
    graph.es["weight"] = pairs["score_sum"].to_pylist()
    partition = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        weights="weight",
        resolution_parameter=resolution,
        seed=seed,
    )
    groups = []
    for members in partition:
        if len(members) < min_size:
            continue
        names = tuple(sorted(accounts[i] for i in members))
        inside = pa.array(names)
        mask = pc.and_(pc.is_in(edges["source"], inside), pc.is_in(edges["target"], inside))
        groups.append(Group(names, edges.filter(mask)))
    return sorted(groups, key=lambda g: (-len(g.accounts), g.accounts))
