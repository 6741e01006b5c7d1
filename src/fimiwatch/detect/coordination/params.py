"""Every parameter of the coordination detector, with its default, in one place."""

from __future__ import annotations

from dataclasses import dataclass

VIEWS: tuple[str, ...] = (
    "co-post", "co-similar", "co-link", "co-repost", "co-reply", "co-hashtag",
)  # fmt: skip
"""Co-action views; each gives every post at most a few keys (co-similar: its near-duplicate
cluster)."""

TRACKING_PARAMETERS = (
    "utm_", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
    "_hsenc", "_hsmi", "ref_src", "s", "si",
)  # fmt: skip
"""Query parameters dropped from URLs (prefixes ending in ``_`` match every such key)."""


@dataclass(frozen=True)
class CoordinationParams:
    views: tuple[str, ...] = VIEWS
    window_seconds: int = 60
    """Two accounts are linked when they take the same action within this many seconds."""
    estimate_window: bool = False
    """Estimate the window from the data instead (see ``window.py``): the gap below which the
    fastest ``window_quantile`` of repeat actions on shared keys fall."""
    window_quantile: float = 0.1
    min_weight: int = 2
    """Distinct shared actions an account pair needs to form an edge."""
    max_neighbours: int = 10
    """Hot keys: each action pairs with at most this many following actions of the same key
    inside the window, so a viral key costs O(n) pairs, not O(n²)."""
    min_rarity: float = 1.0
    """Mean rarity (natural-log inverse account frequency) an edge's shared keys need: a key
    that more than 1/e of the view's accounts use says nothing about who coordinates."""
    min_significance: float = 6.0
    """−log10 of the chance probability an edge's weight needs (a one-in-a-million
    coincidence): with a million candidate pairs, about one chance edge gets through."""
    family_error: float | None = 0.1
    """The strong bar rises to log10(candidate pairs / family_error) when that is higher than
    ``min_significance``: about this many chance edges in the whole result. None: no rise."""
    min_supported_significance: float = 2.0
    """The bar for an edge whose two accounts both have edges above this bar to
    ``min_triangles`` other accounts: groups close triangles, chance meetings seldom do."""
    min_triangles: int = 2
    similar_threshold: float = 0.5
    """co-similar: word-bigram Jaccard two posts need to count as near-duplicates (a word or
    two changed in a 20-word post keeps it above 0.6)."""
    similar_min_words: int = 6
    """co-similar: shorter posts ("so true", "lol") are left to co-post."""
    similar_bands: int = 10
    similar_rows: int = 4
    """MinHash LSH: posts become candidates when all ``similar_rows`` minima of one of
    ``similar_bands`` bands agree: a pair at Jaccard 0.6 is a candidate with probability
    1 − (1 − 0.6⁴)¹⁰ ≈ 0.76 per post pair, and a group posting several times is found far more
    surely; at Jaccard 0.2, 0.016."""
    min_group_size: int = 3
    min_hashtags: int = 2
    """co-hashtag keys are hashtag *sets*; a single popular hashtag is not a shared action."""
    resolution: float = 1.0
    """Leiden resolution (modularity); higher splits groups further."""
    seed: int = 42

    def validate(self) -> None:
        unknown = set(self.views) - set(VIEWS)
        if unknown:
            raise ValueError(f"unknown coordination view(s): {', '.join(sorted(unknown))}")
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if self.family_error is not None and self.family_error <= 0:
            raise ValueError("family_error must be positive (or None)")
        if not 0 < self.window_quantile < 1:
            raise ValueError("window_quantile must be between 0 and 1")
        if not 0 < self.similar_threshold <= 1 or self.similar_min_words < 2:
            raise ValueError("similar_threshold must be in (0, 1], similar_min_words ≥ 2")
        if self.similar_bands < 1 or self.similar_rows < 1:
            raise ValueError("similar_bands and similar_rows must be ≥ 1")
        if self.min_weight < 1 or self.max_neighbours < 1 or self.min_group_size < 2:
            raise ValueError("min_weight and max_neighbours must be ≥ 1, min_group_size ≥ 2")
