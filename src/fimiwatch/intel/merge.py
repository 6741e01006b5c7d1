"""Merge clusters from several sources into one actor per real group.

The galaxies describe the same group many times (APT31 in the threat-actor galaxy, ZIRCONIUM and
Violet Typhoon in Microsoft's, ZIRCONIUM - G0128 in MITRE's). A union-find over normalised alias
keys joins them, with three guards against joining different groups:

* a key shorter than ``MIN_MERGE_KEY`` never merges;
* a key that several clusters of the *same* source list as a synonym, while none of them is named
  by it, is generic (the galaxy itself keeps those groups apart: "Grizzly Steppe" for APT28 and
  APT29) and never merges;
* a merge that would put two different ATT&CK groups (two G-ids) into one actor is refused, and
  its key is ambiguous ("Andariel" is listed by the Lazarus umbrella and by Andariel itself).

Strong evidence merges first — the same primary name across sources, then ATT&CK ids — and
other keys from the most specific (fewest claimants) to the least, so umbrella names meet the
constraint after the specific names have already placed their clusters.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from fimiwatch.intel.bundled import Cluster
from fimiwatch.intel.keys import alias_key

MIN_MERGE_KEY = 3
_ATTACK_ID_KEY = re.compile(r"^g\d{4}$")


@dataclass(frozen=True)
class Merge:
    groups: tuple[tuple[Cluster, ...], ...]
    """Clusters of each actor, in input order; actors ordered by their first cluster."""
    ambiguous: frozenset[str]
    """Keys refused because they would join different ATT&CK groups."""
    generic: frozenset[str]
    """Keys too short or too shared to merge on."""


class _UnionFind:
    def __init__(self, identities: Sequence[str | None]) -> None:
        self.parent = list(range(len(identities)))
        self.ids: list[set[str]] = [{i} if i else set() for i in identities]

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union_all(self, members: Sequence[int]) -> bool:
        """Join all members, or none of them if that would join two ATT&CK groups."""
        roots = sorted({self.find(m) for m in members})
        if len(roots) < 2:
            return True
        if len(set().union(*(self.ids[r] for r in roots))) > 1:
            return False
        for root in roots[1:]:
            self.parent[root] = roots[0]
            self.ids[roots[0]] |= self.ids[root]
        return True


def merge_clusters(clusters: Sequence[Cluster]) -> Merge:
    claimants: dict[str, list[int]] = defaultdict(list)
    named_by: dict[str, list[int]] = defaultdict(list)
    for index, cluster in enumerate(clusters):
        named_by[alias_key(cluster.name)].append(index)
        for key in sorted({alias_key(a) for a in cluster.aliases} - {""}):
            claimants[key].append(index)
    uf = _UnionFind([c.attack_id for c in clusters])
    ambiguous: set[str] = set()
    generic: set[str] = set()

    for key in sorted(k for k, named in named_by.items() if len(named) > 1):
        if not uf.union_all(named_by[key]):
            ambiguous.add(key)
    for key in sorted(k for k in claimants if _ATTACK_ID_KEY.match(k)):
        if not uf.union_all(claimants[key]):
            ambiguous.add(key)
    for key in sorted(claimants, key=lambda k: (len(claimants[k]), k)):
        members = claimants[key]
        if _is_generic(key, members, clusters, named_by.get(key, [])):
            generic.add(key)
        elif not uf.union_all(members):
            ambiguous.add(key)

    groups: dict[int, list[Cluster]] = defaultdict(list)
    for index, cluster in enumerate(clusters):  # dicts keep insertion order: first cluster wins
        groups[uf.find(index)].append(cluster)
    return Merge(tuple(map(tuple, groups.values())), frozenset(ambiguous), frozenset(generic))


def _is_generic(
    key: str, members: Sequence[int], clusters: Sequence[Cluster], named: Sequence[int]
) -> bool:
    if len(key) < MIN_MERGE_KEY:
        return True
    per_origin = Counter(clusters[m].origin for m in members)
    return any(n > 1 for n in per_origin.values()) and not set(named) & set(members)
