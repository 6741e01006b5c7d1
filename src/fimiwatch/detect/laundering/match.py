"""Passage pairs that say the same thing: word shingles within a language, embeddings across.

Both return (copy passage, origin passage, similarity) triples over the passage numbers the
caller gives; which origin may pair with which copy (time order, other outlet) is the caller's
filter.

- **Shingles** (same-language reuse): each passage's word 3-grams, hashed; two passages pair
  when the shingles they share cover ``min_containment`` of the shorter one. Exact overlap, by
  a hash join in DuckDB that spills to disk; shingles found in more than ``max_shingle_df``
  origin passages (boilerplate, stock phrases) are left out, so a common phrase cannot make the
  join quadratic. Only origins count: an article that fifty outlets republish must still match
  each of them, and a copy's result depends on the origins alone, not on the other candidates
  (what lets ``fimiwatch watch`` examine only new candidates). Texts in scripts without spaces
  (Chinese, Japanese) use character 4-grams.
- **Embeddings** (cross-language reuse): each copy passage's ``neighbours`` nearest passages
  among the origins it could copy — published before it, within the look-back — by exact
  cosine, ties to the earlier origin passage, kept at or above the threshold
  (``windowed_embedding_pairs``); each (origin, candidate) article pair so found is then
  aligned passage to passage and only *specific* matches count (``specific_alignment``).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

SHINGLES_SQL = r"""
    SELECT DISTINCT passage, n, unnest(list_transform(range(1, n + 1),
        lambda i: hash(list_slice(tokens, i, i + 2)))) AS shingle
    FROM (
        SELECT passage, tokens, greatest(len(tokens) - 2, 1) AS n
        FROM (
            SELECT passage, CASE
                WHEN regexp_matches(text, '[\x{3040}-\x{30ff}\x{3400}-\x{9fff}]')
                    THEN list_transform(range(1, greatest(length(t_cjk) - 2, 2)),
                                        lambda k: substr(t_cjk, k, 4))
                ELSE list_filter(regexp_split_to_array(lower(text), '[^\w]+'),
                                 lambda w: w <> '') END AS tokens
            FROM (SELECT passage, text, lower(regexp_replace(text, '\s+', '', 'g')) AS t_cjk
                  FROM {table})
        )
    )
"""
"""Each passage's distinct shingles (``passage``, ``n`` shingles in all, ``shingle``) from a
table of (``passage``, ``text``)."""


MAX_SHINGLE_DF = 50


def shingle_pairs(
    con: duckdb.DuckDBPyConnection,
    origin_texts: list[str],
    copy_texts: list[str],
    min_containment: float,
    max_shingle_df: int = MAX_SHINGLE_DF,
) -> pa.Table:
    """(copy, origin, similarity) passage pairs whose shared shingles cover ``min_containment``
    of the shorter passage; ``similarity`` is that containment. Shingles of more than
    ``max_shingle_df`` origin passages are left out."""
    scratch = con.cursor()
    for name, texts in (("origin_passages", origin_texts), ("copy_passages", copy_texts)):
        scratch.register(name, pa.table({
            "passage": pa.array(np.arange(len(texts))), "text": pa.array(texts, pa.string()),
        }))  # fmt: skip
    sql = f"""
        WITH o AS ({SHINGLES_SQL.replace("{table}", "origin_passages")}),
             c AS ({SHINGLES_SQL.replace("{table}", "copy_passages")}),
             common AS (
                 SELECT shingle FROM o GROUP BY shingle HAVING count(*) <= {int(max_shingle_df)}
             ),
             shared AS (
                 SELECT c.passage AS copy, o.passage AS origin, count(*) AS n_shared,
                     any_value(least(o.n, c.n)) AS shorter
                 FROM c JOIN o USING (shingle) JOIN common USING (shingle)
                 GROUP BY c.passage, o.passage
             )
        SELECT copy, origin, n_shared / shorter AS similarity FROM shared
        WHERE n_shared / shorter >= {float(min_containment)}
        ORDER BY copy, origin
    """
    try:
        return scratch.sql(sql).to_arrow_table()
    finally:
        scratch.unregister("origin_passages")
        scratch.unregister("copy_passages")


def crosses_shingle_limit(
    con: duckdb.DuckDBPyConnection,
    origin_texts: list[str],
    is_new: np.ndarray,
    max_shingle_df: int = MAX_SHINGLE_DF,
) -> bool:
    """Whether the new origin passages (``is_new``) push a shingle past ``max_shingle_df``
    origin passages, so that it stops counting for every candidate."""
    scratch = con.cursor()
    scratch.register("origin_passages", pa.table({
        "passage": pa.array(np.arange(len(origin_texts))),
        "text": pa.array(origin_texts, pa.string()),
        "new": pa.array(np.asarray(is_new, dtype=bool)),
    }))  # fmt: skip
    try:
        crossed = scratch.sql(f"""
            WITH o AS ({SHINGLES_SQL.replace("{table}", "origin_passages")})
            SELECT count(*) FROM (
                SELECT shingle FROM o JOIN origin_passages p USING (passage) GROUP BY shingle
                HAVING count(*) > {int(max_shingle_df)}
                   AND count(*) FILTER (WHERE NOT p.new) <= {int(max_shingle_df)}
            )""").fetchall()[0][0]
    finally:
        scratch.unregister("origin_passages")
    return bool(crossed)


COSINE_DECIMALS = 9
QUERY_BLOCK = 2048
"""Copy passages per block of the exact search (a block's cosines take 16 kB per origin passage
in its window: 320 MB at 20,000)."""


def windowed_embedding_pairs(
    origin_vectors: np.ndarray,
    origin_times: np.ndarray,
    copy_vectors: np.ndarray,
    copy_times: np.ndarray,
    neighbours: int,
    min_cosine: float,
    window: float,
) -> pa.Table:
    """(copy, origin, similarity) for each copy passage's ``neighbours`` nearest origin passages
    published in ``[t − window, t)`` of its time ``t``, at or above ``min_cosine``: the
    candidates that alignment then verifies. ``origin_times`` must not decrease. Exact, and each
    copy passage's answer depends on it and those origins alone (equal cosines: the earlier
    origin passage first), whatever else is searched with it."""
    lower = np.searchsorted(origin_times, copy_times - window, side="left")
    upper = np.searchsorted(origin_times, copy_times, side="left")
    found_copies, found_origins, found_cosines = [], [], []
    for start in range(0, len(copy_vectors), QUERY_BLOCK):
        rows = slice(start, start + QUERY_BLOCK)
        first, last = int(lower[rows].min()), int(upper[rows].max())
        if last <= first:
            continue
        columns = np.arange(first, last)
        # float64, rounded: the same cosine whatever the block's shape (BLAS sums in an order
        # that depends on it), so ties and thresholds fall alike in full and incremental runs
        cosines = np.round(
            copy_vectors[rows].astype(np.float64) @ origin_vectors[first:last].astype(np.float64).T,
            COSINE_DECIMALS,
        )
        inside = (columns >= lower[rows, None]) & (columns < upper[rows, None])
        cosines = np.where(inside & (cosines >= min_cosine), cosines, -np.inf)
        k = min(neighbours, last - first)
        kth = -np.partition(-cosines, k - 1, axis=1)[:, k - 1 : k]
        above = cosines > kth
        tied = (cosines == kth) & np.isfinite(kth)
        room = k - above.sum(axis=1, keepdims=True)
        keep = above | (tied & (np.cumsum(tied, axis=1) <= room))
        copy_rows, origin_columns = np.nonzero(keep)
        found_copies.append(copy_rows + start)
        found_origins.append(origin_columns + first)
        found_cosines.append(cosines[copy_rows, origin_columns])
    if not found_copies:
        return pa.table({
            "copy": pa.array([], pa.int64()), "origin": pa.array([], pa.int64()),
            "similarity": pa.array([], pa.float64()),
        })  # fmt: skip
    return pa.table({
        "copy": pa.array(np.concatenate(found_copies).astype(np.int64)),
        "origin": pa.array(np.concatenate(found_origins).astype(np.int64)),
        "similarity": pa.array(np.concatenate(found_cosines)),
    })  # fmt: skip


def specific_alignment(
    cosines: np.ndarray, min_cosine: float, min_gap: float
) -> list[tuple[int, int, float, float]]:
    """One-to-one passage alignment of one origin (rows) with one candidate (columns), kept
    where the pair is *specific*: its cosine exceeds every other cosine of its row and column
    by ``min_gap``. A translated paragraph matches its own source paragraph far better than
    the article's other paragraphs; a report on the same event resembles several of them about
    equally. Returns (row, column, cosine, gap), strongest first."""
    columns = cosines.shape[1]
    order = np.argsort(-cosines, axis=None, kind="stable")
    used_rows: set[int] = set()
    used_columns: set[int] = set()
    aligned = []
    for flat in order:
        i, j = divmod(int(flat), columns)
        cosine = float(cosines[i, j])
        if cosine < min_cosine:
            break
        if i in used_rows or j in used_columns:
            continue
        used_rows.add(i)
        used_columns.add(j)
        others = np.concatenate([np.delete(cosines[i, :], j), np.delete(cosines[:, j], i)])
        gap = cosine - float(others.max()) if len(others) else cosine
        if gap >= min_gap:
            aligned.append((i, j, cosine, gap))
    return aligned
