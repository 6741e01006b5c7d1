"""The detector interface: every detector looks the same from outside.

Like a scikit-learn estimator: a ``name``, a ``Params`` dataclass holding every parameter with
its default (validated when the detector is built), and ``run(store)`` returning findings. A
detector reads tables and never parses files or renders HTML.

Incremental runs (``fimiwatch watch``, ``fimiwatch run --incremental``) ask two more things of a
detector, both with safe defaults:

- ``reads()``: which items can change its findings (a condition on ``items``). When no new item
  meets it and no finding it ``depends_on`` changed, its findings stand as they are.
- ``update(store, change)``: its findings for what is new plus the window it needs, and which
  findings they replace; ``None`` (the default) when only a full run gives the batch result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from fimiwatch.findings import Finding
from fimiwatch.store import Store


@dataclass(frozen=True)
class NoParams:
    """For detectors without parameters."""


@dataclass(frozen=True)
class Change:
    """What is new since a detector's findings were last brought up to date."""

    after_ingest: int
    """Items of ingests after this one are new."""
    through_ingest: int
    """…up to and including this one."""
    items: frozenset[str] = frozenset()
    """Items of findings that changed earlier in this run (of the detectors depended on)."""
    accounts: frozenset[str] = frozenset()
    """Accounts of those findings."""

    def new_items(self) -> str:
        """A SQL condition on ``items`` true of the new items."""
        return new_items(self.after_ingest, self.through_ingest)


def new_items(after: int, through: int) -> str:
    """A SQL condition on ``items`` true of the items of ingests ``after`` < n ≤ ``through``."""
    return f"ingest_id > {int(after)} AND ingest_id <= {int(through)}"


@dataclass(frozen=True)
class Update:
    """An incremental result: these findings replace the detector's findings with the ids in
    ``replaces`` (and any with the same ids), or all of them (``replaces_all``); the rest
    stand."""

    findings: list[Finding]
    replaces: frozenset[str] = field(default_factory=frozenset)
    replaces_all: bool = False
    """The findings replace all of the detector's (a corpus-wide model recomputed from kept
    state: what is incremental is the work, not the set of findings)."""

    @classmethod
    def of(cls, findings: list[Finding], replaces: Iterable[str] = ()) -> Update:
        return cls(findings, frozenset(replaces))

    @classmethod
    def whole(cls, findings: list[Finding]) -> Update:
        return cls(findings, replaces_all=True)


class Detector(ABC):
    name: ClassVar[str]
    finding_type: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type] = NoParams
    depends_on: ClassVar[tuple[str, ...]] = ()
    """Detectors whose findings this one reads (they run before it: detectors run by name)."""

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

    def reads(self) -> str:
        """A SQL condition on ``items`` true of every item whose arrival can change this
        detector's findings (default: any item)."""
        return "TRUE"

    def update(self, store: Store, change: Change) -> Update | None:
        """Findings for ``change`` equal to what ``run`` would give for them, or None when this
        detector cannot say without a full run (the default)."""
        return None
