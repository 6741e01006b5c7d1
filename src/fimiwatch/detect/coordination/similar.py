"""co-similar keys: near-duplicate posts grouped by MinHash LSH, verified by exact Jaccard.

Each post's text becomes a set of word bigrams (words: lower-cased, split at whitespace,
@mentions dropped). DuckDB hashes the words and streams them in batches of posts; NumPy does
the rest without looping over posts: ``bands × rows`` MinHash values per post, computed block
by block so that a block's bigrams stay in the CPU cache through all hash functions, folded at
once into one bucket key per band; then band buckets and the exact bigram Jaccard of each
candidate pair. The posts' bigrams (4 bytes each) and band keys (8 bytes per band and post)
are spooled to a temporary file and memory-mapped, so at 100M posts they sit in the page
cache rather than in the process; what the process holds grows with the posts' ids and a
band's sort (about 60 bytes per post).

Each post in a bucket is compared with the bucket's first post only, so a slogan posted 10,000
times costs 10,000 comparisons, not 50 million. Posts joined by pairs at or above the threshold
form a cluster (connected components), and the cluster (named by its first post)
is the post's co-similar key. "First" is by the hash of the item id, so the clusters do not
depend on the order of the store's rows.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.store import Store

_BIGRAM = np.uint64(0x9E3779B97F4A7C15)
"""Odd multiplier that folds two word hashes into one bigram hash (and a band's minima)."""
BATCH_POSTS = 1 << 19
"""Posts fetched from DuckDB at once."""
BLOCK_POSTS = 4096
"""Posts hashed together: their bigrams (about 100 KB) stay in cache for every hash function."""

WORDS_SQL = r"""
    SELECT id, hash(id) AS rank_hash, words FROM (
        -- unnest: a barrier, so the length filter does not compute the words again
        SELECT id, unnest([list_transform(
            list_filter(
                string_split(replace(replace(replace(lower(text), chr(10), ' '), chr(13), ' '),
                                     chr(9), ' '), ' '),
                lambda w: w <> '' AND NOT starts_with(w, '@')),
            lambda w: hash(w))]) AS words
        FROM items WHERE repost_of IS NULL AND text IS NOT NULL
            AND account_id IS NOT NULL AND published_at IS NOT NULL AND ($where)
    ) WHERE len(words) >= $min_words
"""


def similar_keys(store: Store, params: CoordinationParams) -> pa.Table:
    """(item, key) for every post with a near-duplicate; ``key`` names its cluster."""
    with tempfile.TemporaryDirectory(prefix="fimiwatch-similar-") as folder:
        return _similar_keys(store, params, Path(folder))


class _Spool:
    """An array written batch by batch to a file and read back memory-mapped: the bigrams and
    band keys of 100M posts (about 10 GB) live in the page cache, not the process's memory."""

    def __init__(self, path: Path, dtype: type[np.generic]) -> None:
        self.path, self.dtype, self.count = path, np.dtype(dtype), 0
        self._file = path.open("wb")

    def append(self, values: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.count += len(values)

    def read(self) -> np.ndarray:
        self._file.close()
        if self.count == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.count,))


@dataclass
class HashedPosts:
    """The posts co-similar compares, in the store's order: ids, ranks (hash of the id: the
    bucket's first post is the lowest), band keys and bigrams (flat, with offsets)."""

    ids: pa.ChunkedArray
    rank: np.ndarray
    bands: list[np.ndarray]
    bigrams: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.rank)


def hash_posts(
    store: Store, params: CoordinationParams, folder: Path, where: str = "TRUE"
) -> HashedPosts:
    """MinHash band keys and bigrams of the posts meeting ``where`` (a condition on items),
    spooled under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ids, rank_hashes, offset_parts = [], [], []
    bigram_spool = _Spool(folder / "bigrams", np.uint32)
    band_spools = [_Spool(folder / f"band-{b}", np.uint64) for b in range(params.similar_bands)]
    sql = WORDS_SQL.replace("$min_words", str(int(params.similar_min_words)))
    posts = store.con.sql(sql.replace("$where", where))
    for batch in _prefetched(posts.to_arrow_reader(BATCH_POSTS)):
        if batch.num_rows == 0:
            continue
        bigrams, offsets = _bigrams(batch.column("words"))
        for spool, keys in zip(band_spools, _band_keys(bigrams, offsets, params), strict=True):
            spool.append(keys)
        offset_parts.append(offsets[1:] + bigram_spool.count)
        bigram_spool.append(bigrams >> np.uint64(32))
        # copies: a column of DuckDB's batch would keep the whole batch (its words) alive
        ids.append(pa.concat_arrays([batch.column("id")]))
        rank_hashes.append(batch.column("rank_hash").to_numpy().copy())
    return HashedPosts(
        ids=pa.chunked_array(ids, pa.string()),
        rank=np.concatenate(rank_hashes) if rank_hashes else np.zeros(0, np.uint64),
        bands=[spool.read() for spool in band_spools],
        bigrams=bigram_spool.read(),
        offsets=np.concatenate([[0], *offset_parts]),
    )


def _prefetched(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """``reader``'s batches, each fetched by a thread while the caller works on the one
    before: DuckDB splits and hashes the next posts' words while NumPy hashes this batch."""
    with ThreadPoolExecutor(1, thread_name_prefix="posts") as pool:
        pending = pool.submit(reader.read_next_batch)
        while True:
            try:
                batch = pending.result()
            except StopIteration:
                return
            pending = pool.submit(reader.read_next_batch)
            yield batch


def _similar_keys(store: Store, params: CoordinationParams, folder: Path) -> pa.Table:
    posts = hash_posts(store, params, folder)
    empty = pa.table({"item": pa.array([], pa.string()), "key": pa.array([], pa.string())})
    if len(posts) < 2:
        return empty
    candidates = _band_candidates(posts.bands, posts.rank)
    kept = candidates[jaccard(posts.bigrams, posts.offsets, candidates) >= params.similar_threshold]
    if len(kept) == 0:
        return empty
    return cluster_keys(posts.ids, posts.rank, kept)


def cluster_keys(ids: pa.ChunkedArray | pa.Array, rank: np.ndarray, kept: np.ndarray) -> pa.Table:
    """(item, key) for every post in a matched pair (``kept``: indices into ``ids``): the key is
    the id of the lowest-ranked post of its connected component."""
    label = _components(len(rank), kept)
    matched = np.zeros(len(rank), dtype=bool)
    matched[kept.ravel()] = True
    members = np.flatnonzero(matched)
    del matched
    cluster = label[members]
    order = np.lexsort((rank[members], cluster))  # equal hashes of two ids keep their order
    members, cluster = members[order], cluster[order]
    starts = np.concatenate([[True], cluster[1:] != cluster[:-1]])
    first = members[np.flatnonzero(starts)][np.cumsum(starts) - 1]  # lowest rank per cluster
    return pa.table({
        "item": ids.take(pa.array(members)),
        "key": ids.take(pa.array(first)),
    })  # fmt: skip


def _components(posts: int, pairs: np.ndarray) -> np.ndarray:
    """A component number per post, for the graph of matched pairs (SciPy's sparse graph
    routine: linear memory; a Python edge list for igraph took 24 GB at 100M posts)."""
    ones = np.ones(len(pairs), dtype=np.int8)
    from scipy.sparse import coo_array  # here, not at the top: ~0.2 s to import
    from scipy.sparse.csgraph import connected_components

    graph = coo_array((ones, (pairs[:, 0], pairs[:, 1])), shape=(posts, posts))
    return connected_components(graph, directed=False)[1]


def _bigrams(words: pa.ChunkedArray | pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
    """Flat bigram hashes of every post and their offsets (a post of n words has n − 1)."""
    if isinstance(words, pa.ChunkedArray):
        words = words.combine_chunks()
    offsets = words.offsets.to_numpy()
    flat = words.flatten().to_numpy().astype(np.uint64)
    lengths = np.diff(offsets)
    first = flat[:-1] * _BIGRAM + flat[1:]
    last_word = offsets[1:] - offsets[0] - 1  # no bigram starts at a post's last word
    keep = np.ones(len(flat) - 1, dtype=bool)
    keep[last_word[:-1]] = False
    bigram_offsets = np.concatenate([[0], np.cumsum(lengths - 1)])
    return first[keep], bigram_offsets


def _band_keys(values: np.ndarray, offsets: np.ndarray, params: CoordinationParams) -> np.ndarray:
    """(bands × posts) bucket keys: each band's ``rows`` MinHash minima folded into one value.

    A minimum is the top 32 bits of a·x + b mod 2⁶⁴ (multiply-shift hashing) over a post's
    bigram hashes x; every post has at least one bigram. Blocks of posts run on every core
    (NumPy releases the GIL)."""
    bands, rows = params.similar_bands, params.similar_rows
    rng = np.random.default_rng(params.seed)
    a = rng.integers(0, 1 << 62, size=bands * rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 1 << 62, size=bands * rows, dtype=np.uint64)
    posts = len(offsets) - 1
    out = np.empty((bands, posts), dtype=np.uint64)

    def block(first: int) -> None:
        last = min(posts, first + BLOCK_POSTS)
        low, high = offsets[first], offsets[last]
        chunk = values[low:high]
        starts = offsets[first:last] - low
        hashed = np.empty_like(chunk)
        for band in range(bands):
            key = np.zeros(last - first, dtype=np.uint64)
            for k in range(band * rows, (band + 1) * rows):
                np.multiply(chunk, a[k], out=hashed)
                np.add(hashed, b[k], out=hashed)
                # the top bits of the minimum are the minimum of the top bits: shift after
                minimum = np.minimum.reduceat(hashed, starts) >> np.uint64(32)
                key = (key ^ minimum) * _BIGRAM
            out[band, first:last] = key

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(block, range(0, posts, BLOCK_POSTS)))
    return out


def band_pairs(key: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bucket key, first post, other post) for each post of a band bucket that another post
    shares, other than the bucket's first (lowest ``rank``) post.

    Most buckets hold one post. One plain sort (vectorised, several times faster than an
    argsort) of the keys with their low bits replaced by the post number finds the posts whose
    key prefix another post shares; only those are ordered by (full key, rank)."""
    total = len(rank)
    if total < 2:
        nothing = np.zeros(0, np.int64)
        return np.zeros(0, np.uint64), nothing, nothing
    bits = max(1, (total - 1).bit_length())
    low = np.uint64((1 << bits) - 1)
    packed = np.sort((key & ~low) | np.arange(total, dtype=np.uint64))
    same = (packed[1:] >> np.uint64(bits)) == (packed[:-1] >> np.uint64(bits))
    in_shared = np.concatenate([same, [False]]) | np.concatenate([[False], same])
    posts = (packed[in_shared] & low).astype(np.int64)
    del packed, same, in_shared
    if len(posts) == 0:
        return np.zeros(0, np.uint64), posts, posts
    posts = posts[np.lexsort((rank[posts], key[posts]))]
    bucket = key[posts]
    starts = np.concatenate([[True], bucket[1:] != bucket[:-1]])
    first = posts[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    moved = first != posts
    return bucket[moved], first[moved], posts[moved]


def _band_candidates(bands: list[np.ndarray], rank: np.ndarray) -> np.ndarray:
    """(n × 2) post pairs, deduplicated: each post with the first post (lowest ``rank``) of
    every band bucket it shares with another post."""

    def packed_pairs(band_keys: np.ndarray) -> np.ndarray:
        _, first, other = band_pairs(np.asarray(band_keys), rank)
        return (first.astype(np.uint64) << np.uint64(32)) | other.astype(np.uint64)

    found = np.empty(0, dtype=np.uint64)
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # as many bands at once as there are cores (NumPy's sorts release the GIL), merged
        # as they come: when every text recurs, each band finds nearly the same pairs
        for start in range(0, len(bands), workers):
            for pairs in pool.map(packed_pairs, bands[start : start + workers]):
                if len(pairs) == 0:
                    continue
                found = np.sort(np.concatenate([found, pairs]))
                found = found[np.concatenate([[True], found[1:] != found[:-1]])]
    return np.stack([found >> np.uint64(32), found & np.uint64(0xFFFFFFFF)], axis=1).astype(
        np.int64
    )


_PAIR_BITS = 18
"""Pairs per Jaccard batch (about 60 MB of keys; one batch per core at a time): pair number,
32 bits of bigram hash and the side fit 64 bits."""


def jaccard(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the bigram sets of each pair of posts (bigrams compared on 32 bits of
    their hash: two different bigrams of one pair of 30-word posts collide about once in 5
    million pairs, moving that pair's Jaccard by one bigram)."""
    batch = 1 << _PAIR_BITS
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:  # NumPy's sorts release the GIL
        parts = list(pool.map(
            lambda i: _jaccard_batch(values, offsets, pairs[i : i + batch]),
            range(0, len(pairs), batch),
        ))  # fmt: skip
    return np.concatenate(parts) if parts else np.empty(0)


def _jaccard_batch(values: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    keys = []
    for side, posts in enumerate((pairs[:, 0], pairs[:, 1])):
        lengths = offsets[posts + 1] - offsets[posts]
        pair_of = np.repeat(np.arange(len(pairs), dtype=np.uint64), lengths)
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        bigram = values[np.repeat(offsets[posts], lengths) + within].astype(np.uint64)
        keys.append((pair_of << np.uint64(33)) | (bigram << np.uint64(1)) | np.uint64(side))
    key = np.sort(np.concatenate(keys))
    pair_of = (key >> np.uint64(33)).astype(np.int64)
    same = (key[1:] >> np.uint64(1)) == (key[:-1] >> np.uint64(1))  # same pair and bigram
    distinct = np.concatenate([[True], ~same])  # first of each (pair, bigram): the union
    shared = np.concatenate([[False], same & ((key[1:] & 1) != (key[:-1] & 1))])
    union = np.bincount(pair_of[distinct], minlength=len(pairs))
    intersection = np.bincount(pair_of[shared], minlength=len(pairs))
    return intersection / union
