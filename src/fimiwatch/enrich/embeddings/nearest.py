"""Nearest neighbours among unit vectors: exact below ``EXACT_BELOW`` base vectors, a usearch
HNSW index above (cosine as inner product)."""

from __future__ import annotations

import numpy as np

EXACT_BELOW = 20_000
"""Below this many base vectors a blocked matrix product is fast and exact."""
QUERY_BLOCK = 4096
"""Queries per exact block: a block's similarities stay near 300 MB at 20,000 base vectors."""


def nearest(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``base`` to each query (``k`` ≤ rows of ``base``), and their
    cosines; each (queries × k)."""
    if len(base) < EXACT_BELOW:
        found, cosines = [], []
        for start in range(0, len(queries), QUERY_BLOCK):
            similarity = queries[start : start + QUERY_BLOCK] @ base.T
            block = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
            found.append(block)
            cosines.append(np.take_along_axis(similarity, block, axis=1))
        if not found:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
        return np.concatenate(found), np.concatenate(cosines)
    from usearch.index import Index

    index = Index(ndim=base.shape[1], metric="ip", dtype="f32")
    # one thread: a multi-threaded build links the graph in a different order each run
    index.add(np.arange(len(base)), base, threads=1)
    result = index.search(queries, k, threads=1)
    return result.keys.astype(np.int64), (1.0 - result.distances).astype(np.float32)
