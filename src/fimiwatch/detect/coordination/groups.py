"""Account groups from the multi-view edge network (Leiden communities)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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
    membership = np.asarray(partition.membership)
    sizes = np.bincount(membership)
    kept = np.flatnonzero(sizes >= min_size)
    if len(kept) == 0:
        return []
    # every edge inside one community, found at once: its source's and target's communities
    names = pa.array(accounts)
    source = membership[pc.index_in(edges["source"], names).to_numpy()]
    target = membership[pc.index_in(edges["target"], names).to_numpy()]
    inside = np.flatnonzero((source == target) & np.isin(source, kept))
    order = inside[np.argsort(source[inside], kind="stable")]
    community = source[order]
    starts = np.searchsorted(community, kept)
    ends = np.searchsorted(community, kept, side="right")
    grouped = edges.take(pa.array(order))
    by_community = np.argsort(membership, kind="stable")  # accounts are sorted: members stay so
    first_member = np.searchsorted(membership[by_community], kept)
    groups = [
        Group(
            tuple(accounts[i] for i in by_community[first : first + sizes[c]]),
            grouped.slice(int(start), int(end - start)),
        )
        for c, first, start, end in zip(kept, first_member, starts, ends, strict=True)
    ]
    return sorted(groups, key=lambda g: (-len(g.accounts), g.accounts))
