"""A triage verdict: indicators with weights and evidence, combined so that the analyst can see
what each contributed."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

EXCERPT_CONTEXT = 60
"""Characters of text kept either side of a matched cue."""


@dataclass(frozen=True)
class Indicator:
    id: str
    description: str
    weight: float
    """How strongly this alone points to a hostile message or approach (0–1)."""
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    score: float
    indicators: tuple[Indicator, ...]
    attack: tuple[str, ...] = ()
    disarm: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": self.score,
            "indicators": [asdict(i) for i in self.indicators],
            "attack": list(self.attack),
            "disarm": list(self.disarm),
        }


def text_indicator(
    id: str, pattern: re.Pattern[str], text: str, weight: float, description: str
) -> Indicator | None:
    """An indicator when ``pattern`` occurs in ``text``, with the words around it as evidence."""
    match = pattern.search(text)
    if match is None:
        return None
    start = max(0, match.start() - EXCERPT_CONTEXT)
    excerpt = " ".join(text[start : match.end() + EXCERPT_CONTEXT].split())
    return Indicator(id, description, weight, {"excerpt": excerpt})


def combined_score(indicators: list[Indicator]) -> float:
    """Noisy-OR: 1 − Π(1 − weight). Independent signals add up; no single weak one decides,
    and the score stays within 0–1 however many fire."""
    return round(1.0 - math.prod(1.0 - i.weight for i in indicators), 4)


def graded(score: float, cuts: tuple[tuple[float, str], ...], lowest: str) -> str:
    """The label of the first cut (highest first) the score reaches."""
    return next((label for cut, label in cuts if score >= cut), lowest)
