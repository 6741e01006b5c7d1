"""The detector interface: every detector looks the same from outside.

Like a scikit-learn estimator: a ``name``, a ``Params`` dataclass holding every parameter with
its default (validated when the detector is built), and ``run(store)`` returning findings. A
detector reads tables and never parses files or renders HTML.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from fimiwatch.findings import Finding
from fimiwatch.store import Store


@dataclass(frozen=True)
class NoParams:
    """For detectors without parameters."""


class Detector(ABC):
    name: ClassVar[str]
    finding_type: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type] = NoParams

    def __init__(self, **params: Any) -> None:
        known = {f.name for f in fields(self.Params)}
        unknown = set(params) - known
        if unknown:
            raise ValueError(
                f"detector {self.name}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known)) or 'none'}"
            )
        self.params = self.Params(**params)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError on parameters that cannot work together."""

    @abstractmethod
    def run(self, store: Store) -> list[Finding]:
        """Read the store and return this detector's findings (deterministically)."""
