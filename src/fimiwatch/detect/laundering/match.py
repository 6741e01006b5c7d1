"""Passage pairs that say the same thing: word shingles within a language, embeddings across.

Both return (copy passage, origin passage, similarity) triples over the passage numbers the
caller gives; which origin may pair with which copy (time order, other outlet) is the caller's
filter.

- **Shingles** (same-language reuse): each passage's word 3-grams, hashed; two passages pair
  when the shingles they share cover ``min_containment`` of the shorter one. Exact overlap, by
  a hash join in DuckDB that spills to disk; shingles found in more than ``max_shingle_df``
  passages (boilerplate, stock phrases) are left out, so a common phrase cannot make the join
  quadratic. Texts in scripts without spaces (Chinese, Japanese) use character 4-grams.
- **Embeddings** (cross-language reuse): each copy passage's ``neighbours`` nearest origin
  passages by cosine (``enrich.embeddings.nearest``: exact for small sets, else an HNSW
  index), kept at or above the threshold; each (origin, candidate) article pair so found
  is then aligned passage to passage and only *specific* matches count
  (``specific_alignment``).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from fimiwatch.enrich.embeddings.nearest import nearest


def shingle_pairs(
    con: duckdb.DuckDBPyConnection,
    origin_texts: list[str],
    copy_texts: list[str],
    min_containment: float,
    max_shingle_df: int = 50,
) -> pa.Table:
    """(copy, origin, similarity) passage pairs whose shared shingles cover ``min_containment``
    of the shorter passage; ``similarity`` is that containment."""
    scratch = con.cursor()
    for name, texts in (("origin_passages", origin_texts), ("copy_passages", copy_texts)):
        scratch.register(name, pa.table({
            "passage": pa.array(np.arange(len(texts))), "text": pa.array(texts, pa.string()),
        }))  # fmt: skip
    shingles = r"""
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
    sql = f"""
        WITH o AS ({shingles.replace("{table}", "origin_passages")}),
             c AS ({shingles.replace("{table}", "copy_passages")}),
             common AS (
                 SELECT shingle FROM (SELECT shingle FROM o UNION ALL SELECT shingle FROM c)
                 GROUP BY shingle HAVING count(*) <= {int(max_shingle_df)}
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


def embedding_pairs(
    origin_vectors: np.ndarray, copy_vectors: np.ndarray, neighbours: int, min_cosine: float
) -> pa.Table:
    """(copy, origin, similarity) for each copy passage's ``neighbours`` nearest origin
    passages at or above ``min_cosine``: the candidates that alignment then verifies."""
    empty = pa.table({
        "copy": pa.array([], pa.int64()), "origin": pa.array([], pa.int64()),
        "similarity": pa.array([], pa.float64()),
    })  # fmt: skip
    if len(origin_vectors) == 0 or len(copy_vectors) == 0:
        return empty
    k = min(neighbours, len(origin_vectors))
    found, cosines = nearest(origin_vectors, copy_vectors, k)
    copies = np.repeat(np.arange(len(copy_vectors)), k)
    keep = (cosines >= min_cosine).reshape(-1)
    return pa.table({
        "copy": pa.array(copies[keep]), "origin": pa.array(found.reshape(-1)[keep]),
        "similarity": pa.array(cosines.reshape(-1)[keep].astype(np.float64)),
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
