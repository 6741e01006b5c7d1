"""The texts a narrative is recognised in: one per post, and per article its title and each
passage (a narrative may fill one paragraph of a long report).

Posts are cleaned in SQL (links removed, whitespace folded, cut to ``max_chars``) and each
distinct text is embedded once, so 1,000 copies of one troll post cost one embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fimiwatch.detect.laundering.passages import passages
from fimiwatch.detect.narratives.params import NarrativeParams
from fimiwatch.enrich.embeddings import embed_texts
from fimiwatch.store import Store

ARTICLE_PLATFORMS = ("web", "rss")

UNITS_SQL = r"""
    WITH chosen AS (
        SELECT id, platform, title, text,
               trim(regexp_replace(regexp_replace(coalesce(text, ''), 'https?://\S+', ' ', 'g'),
                                   '\s+', ' ', 'g')) AS cleaned
        FROM items
        WHERE platform <> 'email' AND published_at IS NOT NULL
          AND ($all_platforms OR platform IN (SELECT unnest(?))) AND ($where)
    )
    SELECT id, platform, title, text, left(cleaned, ?) AS cleaned FROM chosen
    WHERE platform IN ('web', 'rss') OR length(cleaned) >= ?
    ORDER BY id
"""


@dataclass
class Units:
    item_ids: list[str]
    item_of: np.ndarray
    """Per unit, the index of its item in ``item_ids``."""
    text_of: np.ndarray
    """Per unit, the index of its text in ``texts``."""
    texts: list[str]
    """Distinct texts, each embedded once."""
    vectors: np.ndarray
    """One unit vector per distinct text."""

    @property
    def weights(self) -> np.ndarray:
        """Items carrying each distinct text."""
        return np.bincount(self.text_of, minlength=len(self.texts))


def collect_units(store: Store, params: NarrativeParams, where: str = "TRUE") -> Units:
    """The texts of every item (or of those meeting ``where``, a condition on items),
    embedded (from the cache where already seen)."""
    sql = UNITS_SQL.replace("$all_platforms", "false" if params.platforms else "true")
    rows = store.con.sql(
        sql.replace("$where", where),
        params=[list(params.platforms), params.max_chars, params.min_chars],
    ).to_arrow_table()
    item_ids = rows.column("id").to_pylist()
    is_article = np.isin(rows.column("platform").to_numpy(zero_copy_only=False),
                         ARTICLE_PLATFORMS)  # fmt: skip
    item_of_parts = [np.flatnonzero(~is_article)]
    text_parts: list[list[str]] = [rows.column("cleaned").filter(pa.array(~is_article)).to_pylist()]
    titles, bodies = rows.column("title").to_pylist(), rows.column("text").to_pylist()
    for index in np.flatnonzero(is_article):
        pieces = [t for t in (titles[index],) if t and len(t) >= params.min_chars]
        pieces += passages(bodies[index] or "", params.min_chars, params.max_chars)
        item_of_parts.append(np.full(len(pieces), index))
        text_parts.append(pieces)
    all_texts = [t for part in text_parts for t in part]
    texts, text_of = np.unique(np.array(all_texts, dtype=object), return_inverse=True)
    distinct = [str(t) for t in texts]
    return Units(
        item_ids=item_ids,
        item_of=np.concatenate(item_of_parts).astype(np.int64),
        text_of=np.asarray(text_of, dtype=np.int64).reshape(-1),
        texts=distinct,
        vectors=embed_texts(store, distinct, params.backend),
    )


def embed_queries(store: Store, texts: list[str], backend: str) -> np.ndarray:
    """Claims as queries where the model tells queries from passages (e5: ``query:``);
    other backends embed them like any text."""
    from fimiwatch.enrich.embeddings.backends import load_backend

    model = load_backend(backend)
    as_query = getattr(model, "embed_queries", None)
    if as_query is None:
        return embed_texts(store, texts, backend)
    return np.asarray(as_query(texts), dtype=np.float32)
