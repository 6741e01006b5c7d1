"""Recurring narratives nobody defined: communities of texts that say nearly the same thing.

1. Every distinct text (``units.py``) not already matched to a defined narrative is linked to
   its ``neighbours`` nearest texts at or above ``discover_threshold`` (cosine).
2. Leiden (modularity, fixed seed) splits that graph into communities; a community is a
   candidate narrative. Embeddings are multilingual, so one community can hold Czech, Slovak
   and English texts of one claim.
3. A candidate is reported when enough items, accounts (or outlets) and days carry it: a claim
   that recurs, not one post copied in one burst (that is coordination's business).
4. It is labelled by its most distinctive words (class-based TF-IDF, as in BERTopic: a word's
   frequency in the community times its rarity across communities) and by its most central
   text (nearest the community's mean vector).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from fimiwatch.detect.narratives.params import NarrativeParams
from fimiwatch.enrich.embeddings.nearest import nearest

WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
LABEL_WORDS = 5


@dataclass(frozen=True)
class Community:
    key: str
    terms: tuple[str, ...]
    representative: str
    texts: np.ndarray
    """Indices of the distinct texts in the community."""


def communities(
    vectors: np.ndarray, eligible: np.ndarray, weights: np.ndarray, params: NarrativeParams
) -> list[np.ndarray]:
    """Communities (arrays of text indices, largest weight first) among the ``eligible`` texts."""
    import igraph  # here, not at the top: igraph loads matplotlib (~0.6 s)
    import leidenalg

    candidates = np.flatnonzero(eligible)
    if len(candidates) < 2:
        return []
    subset = vectors[candidates]
    k = min(params.neighbours + 1, len(candidates))
    found, cosines = nearest(subset, subset, k)
    source = np.repeat(np.arange(len(candidates)), k)
    target, cosine = found.reshape(-1), cosines.reshape(-1)
    keep = (target != source) & (cosine >= params.neighbour_cosine)
    a, b = np.minimum(source, target)[keep], np.maximum(source, target)[keep]
    if len(a) == 0:
        return []
    edges = np.unique(np.stack([a, b], axis=1), axis=0)
    graph = igraph.Graph(n=len(candidates), edges=edges)
    partition = leidenalg.find_partition(
        graph,
        leidenalg.ModularityVertexPartition,
        weights=np.ones(len(edges)).tolist(),
        seed=params.seed,
    )
    membership = np.asarray(partition.membership)
    groups = [candidates[membership == c] for c in range(int(membership.max()) + 1)]
    groups = [g for g in groups if len(g) > 1]
    return sorted(groups, key=lambda g: (-int(weights[g].sum()), int(g[0])))


def label(groups: list[np.ndarray], texts: list[str], vectors: np.ndarray) -> list[Community]:
    """Distinctive words and a central text for each group."""
    counts = [Counter(w for i in g for w in WORD.findall(texts[i].casefold())) for g in groups]
    spread = Counter(w for c in counts for w in c)
    average = sum(sum(c.values()) for c in counts) / max(1, len(counts))
    labelled = []
    for group, words in zip(groups, counts, strict=True):
        weight = {w: n * math.log(1 + average / spread[w]) for w, n in words.items()}
        terms = tuple(sorted(weight, key=lambda w: (-weight[w], w))[:LABEL_WORDS])
        centre = vectors[group].mean(axis=0)
        representative = texts[int(group[np.argmax(vectors[group] @ centre)])]
        digest = hashlib.sha1(representative.encode()).hexdigest()[:10]
        labelled.append(Community(f"discovered-{digest}", terms, representative, group))
    return labelled
