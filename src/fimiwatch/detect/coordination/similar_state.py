"""The co-similar view kept in the store between runs, so that new posts are hashed and compared
only within the band buckets they fall into.

A bucket's comparisons depend on its members alone (each with the bucket's lowest-ranked post),
and the clusters (the view's keys) on the matched pairs alone. So the store keeps:

- ``coordination_similar_posts``: every post the view compares, with its rank (the hash of its
  id) and one bucket key per band;
- ``coordination_similar_pairs``: the matched pairs, each with the band and bucket that compared
  it, as (band, bucket, first, other) with ``first`` the bucket's lowest-ranked post;
- ``coordination_similar_keys``: (item, key), what ``similar.similar_keys`` gives.

New posts join the posts table. A bucket a new post falls into gains that post's pair with the
bucket's first post; a bucket whose first post is new is compared again whole and its pairs
replaced. The clusters are then recomputed from the pairs table, which holds only matched
posts. A full run builds the three tables from all posts (tests compare the two). Equal ranks
(two ids whose 64-bit hashes collide: odds of about one in 40 million among a million posts)
are ordered by id here and by the store's order in a batch run.
"""

from __future__ import annotations

import tempfile
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.detect.coordination.similar import HashedPosts, band_pairs, cluster_keys, hash_posts
from fimiwatch.detect.coordination.similar import jaccard as pair_jaccard
from fimiwatch.store import Store

POSTS = "coordination_similar_posts"
PAIRS = "coordination_similar_pairs"
KEYS = "coordination_similar_keys"
TABLES = (POSTS, PAIRS, KEYS)

_PAIRS_SCHEMA = pa.schema(
    [
        ("band", pa.int16()),
        ("bucket", pa.uint64()),
        ("first_item", pa.string()),
        ("other_item", pa.string()),
    ]
)


def rebuild(store: Store, params: CoordinationParams) -> None:
    """The three tables from every post in the store."""
    with tempfile.TemporaryDirectory(prefix="fimiwatch-similar-") as folder:
        posts = hash_posts(store, params, Path(folder))
        _create(store, POSTS, _posts_table(posts))
        rows = [(band, *band_pairs(np.asarray(keys), posts.rank))
                for band, keys in enumerate(posts.bands)]  # fmt: skip
        _create(store, PAIRS, _matched(posts, rows, params))
    _create(store, KEYS, _clusters(store))


def update(store: Store, params: CoordinationParams, where: str) -> pa.Table:
    """Bring the tables up to date with the posts meeting ``where`` (new items); returns
    (item, key) for each post whose key changed, ``key`` null when it no longer has one."""
    with tempfile.TemporaryDirectory(prefix="fimiwatch-similar-") as folder:
        new = hash_posts(store, params, Path(folder) / "new", where)
        if len(new) == 0:
            return pa.table({"item": pa.array([], pa.string()), "key": pa.array([], pa.string())})
        _insert(store, POSTS, _posts_table(new))
        new_ids = new.ids.combine_chunks()
        rows, members = [], []
        for band in range(params.similar_bands):
            sharing = _sharing(store, band, np.unique(new.bands[band]))
            bucket, first, other = band_pairs(
                sharing["bucket"].to_numpy(), np.arange(sharing.num_rows, dtype=np.uint64)
            )
            ids = sharing["item"].combine_chunks()
            is_new = pc.is_in(ids, value_set=new_ids).to_numpy(zero_copy_only=False)
            # a bucket whose first post is old keeps its pairs and gains one per new post; one
            # whose first post is new is compared again whole (a viral text's bucket costs a
            # round its new posts, not its size)
            renewed = is_new[first]
            keep = renewed | is_new[other]
            _delete_pairs(store, band, np.unique(bucket[renewed]))
            rows.append((band, bucket[keep], ids.take(pa.array(first[keep])),
                         ids.take(pa.array(other[keep]))))  # fmt: skip
            members.append(pc.unique(pa.concat_arrays([rows[-1][2], rows[-1][3]])))
        involved = pa.table({"item": pc.unique(pa.concat_arrays(members))})
        with store.registered("coord_similar_involved", involved):
            compared = hash_posts(
                store, params, Path(folder) / "involved",
                "id IN (SELECT item FROM coord_similar_involved)",
            )  # fmt: skip
        indexed = [
            (band, bucket, pc.index_in(first, compared.ids).to_numpy(),
             pc.index_in(other, compared.ids).to_numpy())
            for band, bucket, first, other in rows
        ]  # fmt: skip
        _insert(store, PAIRS, _matched(compared, indexed, params))
    return _replace_keys(store, _clusters(store))


def _sharing(store: Store, band: int, buckets: np.ndarray) -> pa.Table:
    """(item, rank, bucket) of every post in these buckets of ``band``, lowest rank first
    (equal ranks, a 64-bit collision of two ids' hashes, by id)."""
    with _buckets(store, buckets):
        return store.arrow(
            f"SELECT item, rank, band_{int(band)} AS bucket FROM {POSTS} "
            f"WHERE band_{int(band)} IN (SELECT bucket FROM coord_buckets) ORDER BY rank, item"
        )


def _delete_pairs(store: Store, band: int, buckets: np.ndarray) -> None:
    if len(buckets) == 0:
        return
    with _buckets(store, buckets):
        store.con.execute(
            f"DELETE FROM {PAIRS} WHERE band = ? AND bucket IN (SELECT bucket FROM coord_buckets)",
            [band],
        )


def _buckets(store: Store, buckets: np.ndarray) -> AbstractContextManager[None]:
    """``buckets`` readable as ``coord_buckets(bucket)``."""
    return store.registered("coord_buckets", pa.table({"bucket": pa.array(buckets, pa.uint64())}))


def _posts_table(posts: HashedPosts) -> pa.Table:
    columns = {"item": posts.ids, "rank": pa.array(posts.rank, pa.uint64())}
    for band, keys in enumerate(posts.bands):
        columns[f"band_{band}"] = pa.array(np.asarray(keys), pa.uint64())
    return pa.table(columns)


def _matched(
    posts: HashedPosts,
    rows: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
    params: CoordinationParams,
) -> pa.Table:
    """The compared (band, bucket, first, other) rows whose pair reaches the threshold, with
    post ids; each distinct pair's Jaccard is computed once."""
    if not rows or sum(len(first) for _, _, first, _ in rows) == 0:
        return _PAIRS_SCHEMA.empty_table()
    first = np.concatenate([f for _, _, f, _ in rows]).astype(np.uint64)
    other = np.concatenate([o for _, _, _, o in rows]).astype(np.uint64)
    packed, inverse = np.unique((first << np.uint64(32)) | other, return_inverse=True)
    unique_pairs = np.stack([packed >> np.uint64(32), packed & np.uint64(0xFFFFFFFF)], axis=1)
    score = pair_jaccard(posts.bigrams, posts.offsets, unique_pairs.astype(np.int64))
    kept = (score >= params.similar_threshold)[inverse.ravel()]
    band = np.concatenate([np.full(len(f), b, np.int16) for b, _, f, _ in rows])
    bucket = np.concatenate([np.asarray(k, np.uint64) for _, k, _, _ in rows])
    ids = posts.ids.combine_chunks() if isinstance(posts.ids, pa.ChunkedArray) else posts.ids
    return pa.table(
        {
            "band": pa.array(band[kept]),
            "bucket": pa.array(bucket[kept]),
            "first_item": ids.take(pa.array(first[kept].astype(np.int64))),
            "other_item": ids.take(pa.array(other[kept].astype(np.int64))),
        },
        schema=_PAIRS_SCHEMA,
    )


def _clusters(store: Store) -> pa.Table:
    """(item, key) from the matched pairs: connected components, each named by its
    lowest-ranked post (ties of rank by id)."""
    nodes = store.arrow(
        f"""
        SELECT item FROM {POSTS}
        WHERE item IN (SELECT first_item FROM {PAIRS} UNION SELECT other_item FROM {PAIRS})
        ORDER BY rank, item
        """
    )["item"].combine_chunks()
    if len(nodes) == 0:
        return pa.table({"item": pa.array([], pa.string()), "key": pa.array([], pa.string())})
    pairs = store.arrow(f"SELECT DISTINCT first_item, other_item FROM {PAIRS}")
    ends = [pc.index_in(pairs[column], nodes).to_numpy() for column in ("first_item", "other_item")]
    kept = np.stack(ends, axis=1).astype(np.int64)
    return cluster_keys(nodes, np.arange(len(nodes), dtype=np.uint64), kept)


def _replace_keys(store: Store, keys: pa.Table) -> pa.Table:
    """Store ``keys`` as the view's keys; the rows that changed, as ``update`` returns them."""
    with store.registered("coord_new_keys", keys):
        changes = store.arrow(
            f"""
            SELECT coalesce(n.item, o.item) AS item, n.key
            FROM {KEYS} o FULL JOIN coord_new_keys n ON n.item = o.item
            WHERE o.key IS DISTINCT FROM n.key
            ORDER BY item
            """
        )
        store.con.execute(f"DELETE FROM {KEYS}")
        store.con.execute(f"INSERT INTO {KEYS} SELECT item, key FROM coord_new_keys")
    return changes


def _create(store: Store, name: str, table: pa.Table) -> None:
    with store.registered("coord_arrow", table):
        store.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM coord_arrow")


def _insert(store: Store, name: str, table: pa.Table) -> None:
    with store.registered("coord_arrow", table):
        store.con.execute(f"INSERT INTO {name} SELECT * FROM coord_arrow")
