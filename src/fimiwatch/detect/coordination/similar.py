"""co-similar keys: near-duplicate posts grouped by MinHash LSH, verified by exact Jaccard.

Each post's text (normalised as co-post normalises it) becomes a set of word bigrams. DuckDB
hashes the words; NumPy does the rest over all posts at once, never looping over posts:
``bands × rows`` MinHash values (one vectorised pass per hash function), band buckets, and the
exact bigram Jaccard of each candidate pair. Each post in a bucket is compared with the
bucket's first post only, so a slogan posted 10,000 times costs 10,000 comparisons, not 50
million. Posts joined by pairs at or above the threshold form a cluster, and the cluster (named
by its first post) is the post's co-similar key.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import igraph
import numpy as np
import pyarrow as pa

from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.store import Store

_BIGRAM = np.uint64(0x9E3779B97F4A7C15)
"""Odd multiplier that folds two word hashes into one bigram hash."""


def _words_sql(text_key_sql: str) -> str:
    return f"""
        SELECT id, words FROM (
            -- unnest: a barrier, so the length filter does not compute the words again
            SELECT id, unnest([list_transform(string_split({text_key_sql}, ' '),
                                              lambda w: hash(w))]) AS words
            FROM items WHERE repost_of IS NULL AND text IS NOT NULL
        ) WHERE len(words) >= $min_words
        ORDER BY hash(id), id
    """


def similar_keys(store: Store, params: CoordinationParams, text_key_sql: str) -> pa.Table:
    """(item, key) for every post with a near-duplicate; ``key`` names its cluster."""
    posts = store.arrow(_words_sql(text_key_sql), {"min_words": params.similar_min_words})
    empty = pa.table({"item": pa.array([], pa.string()), "key": pa.array([], pa.string())})
    if posts.num_rows < 2:
        return empty
    ids = posts["id"]
    shingles, offsets = _bigrams(posts["words"].combine_chunks())
    del posts  # the word lists are no longer needed; the bigrams are
    signatures = _minhash(shingles, offsets, params.similar_bands * params.similar_rows,
                          params.seed)  # fmt: skip
    candidates = _band_candidates(signatures, params.similar_bands, params.similar_rows)
    del signatures
    kept = candidates[_jaccard(shingles, offsets, candidates) >= params.similar_threshold]
    if len(kept) == 0:
        return empty
    count = len(offsets) - 1
    membership = np.asarray(
        igraph.Graph(n=count, edges=kept.tolist()).connected_components().membership
    )
    members = np.unique(kept)
    first = np.full(membership.max() + 1, count, dtype=np.int64)
    np.minimum.at(first, membership[members], members)  # posts are in a fixed order
    return pa.table({
        "item": ids.take(pa.array(members)),
        "key": ids.take(pa.array(first[membership[members]])),
    })  # fmt: skip


def _bigrams(words: pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
    """Flat bigram hashes of every post and their offsets (a post of n words has n − 1)."""
    offsets = words.offsets.to_numpy()
    flat = words.flatten().to_numpy().astype(np.uint64)
    lengths = np.diff(offsets)
    first = flat[:-1] * _BIGRAM + flat[1:]
    last_word = offsets[1:] - offsets[0] - 1  # no bigram starts at a post's last word
    keep = np.ones(len(flat) - 1, dtype=bool)
    keep[last_word[:-1]] = False
    bigram_offsets = np.concatenate([[0], np.cumsum(lengths - 1)])
    return first[keep], bigram_offsets


def _minhash(values: np.ndarray, offsets: np.ndarray, count: int, seed: int) -> np.ndarray:
    """(count × posts) minima of ``count`` multiply-shift hashes (top 32 bits of a·x + b mod
    2⁶⁴) of each post's bigram hashes; every post has at least one bigram."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 62, size=count, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 1 << 62, size=count, dtype=np.uint64)
    starts = offsets[:-1]
    out = np.empty((count, len(starts)), dtype=np.uint32)

    def one(k: int) -> None:  # NumPy releases the GIL: hash functions run on every core
        hashed = np.multiply(values, a[k])
        np.add(hashed, b[k], out=hashed)
        np.right_shift(hashed, np.uint64(32), out=hashed)
        out[k] = np.minimum.reduceat(hashed, starts)  # < 2³² after the shift

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one buffer each
        list(pool.map(one, range(count)))
    return out


def _band_candidates(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n × 2) post pairs, deduplicated: each post with the first post of every band bucket
    it shares with another post."""
    posts = signatures.shape[1]
    index = np.arange(posts, dtype=np.uint64)
    pairs = []
    for band in range(bands):
        key = np.zeros(posts, dtype=np.uint64)
        for row in signatures[band * rows : (band + 1) * rows]:
            key = (key ^ row) * _BIGRAM  # the band's minima folded into one bucket key
        order = np.argsort(key).astype(np.uint64)
        ordered = key[order]
        starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
        first = np.minimum.reduceat(order, np.flatnonzero(starts))  # each bucket's first post
        representative = np.empty(posts, dtype=np.uint64)
        representative[order] = first[np.cumsum(starts) - 1]
        moved = representative != index
        pairs.append((representative[moved].astype(np.uint64) << np.uint64(32)) | index[moved])
    packed = np.sort(np.concatenate(pairs))
    packed = packed[np.concatenate([[True], packed[1:] != packed[:-1]])]  # once, however many bands
    return np.stack([packed >> np.uint64(32), packed & np.uint64(0xFFFFFFFF)], axis=1).astype(
        np.int64
    )


_PAIR_BITS = 23
"""Pairs per Jaccard batch: pair number, 40 bits of bigram hash and the side fit 64 bits."""


def _jaccard(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the bigram sets of each pair of posts (bigrams compared on 40 bits of
    their hash: two different bigrams of one pair collide about once in 10¹⁰ pairs)."""
    batch = 1 << _PAIR_BITS
    parts = [_jaccard_batch(values, offsets, pairs[i : i + batch])
             for i in range(0, len(pairs), batch)]  # fmt: skip
    return np.concatenate(parts) if parts else np.empty(0)


def _jaccard_batch(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    keys = []
    for side, posts in enumerate((pairs[:, 0], pairs[:, 1])):
        lengths = offsets[posts + 1] - offsets[posts]
        pair_of = np.repeat(np.arange(len(pairs), dtype=np.uint64), lengths)
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        bigram = values[np.repeat(offsets[posts], lengths) + within] >> np.uint64(24)
        keys.append((pair_of << np.uint64(41)) | (bigram << np.uint64(1)) | np.uint64(side))
    key = np.sort(np.concatenate(keys))
    pair_of = (key >> np.uint64(41)).astype(np.int64)
    same = (key[1:] >> np.uint64(1)) == (key[:-1] >> np.uint64(1))  # same pair and bigram
    distinct = np.concatenate([[True], ~same])  # first of each (pair, bigram): the union
    shared = np.concatenate([[False], same & ((key[1:] & 1) != (key[:-1] & 1))])
    union = np.bincount(pair_of[distinct], minlength=len(pairs))
    intersection = np.bincount(pair_of[shared], minlength=len(pairs))
    return intersection / union
