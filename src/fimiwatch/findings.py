"""The finding: one schema for every detector's output (see DESIGN, "Findings")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

FINDING_TYPES: tuple[str, ...] = (
    "coordination", "laundering", "narrative", "targeting", "phishing", "recruitment",
)  # fmt: skip
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")


def severity_for(score: float) -> str:
    """The default mapping from score to severity; a detector may choose otherwise."""
    if score >= 0.9:
        return "critical"
    if score >= 0.7:
        return "high"
    if score >= 0.4:
        return "medium"
    return "low"


def finding_id(type: str, key: str) -> str:
    """Stable id from the finding's type and a key naming what it is about: same data, same id."""
    return f"{type}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Finding:
    """A validated finding. Construction fails on an invalid type, score or severity."""

    id: str
    type: str
    title: str
    summary: str
    score: float
    severity: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    item_ids: tuple[str, ...] = ()
    account_ids: tuple[str, ...] = ()
    source_ids: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    disarm: tuple[str, ...] = ()
    attack: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in FINDING_TYPES:
            raise ValueError(f"finding type {self.type!r} is not one of {FINDING_TYPES}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"finding score {self.score} is outside 0–1")
        if self.severity not in SEVERITIES:
            raise ValueError(f"finding severity {self.severity!r} is not one of {SEVERITIES}")
        if not self.id or not self.title:
            raise ValueError("a finding needs an id and a title")
        if self.first_seen and self.last_seen and self.first_seen > self.last_seen:
            raise ValueError("a finding's first_seen is after its last_seen")

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN contract's JSON form."""
        return {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "summary": self.summary,
            "score": round(self.score, 4),
            "severity": self.severity,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "item_ids": list(self.item_ids),
            "account_ids": list(self.account_ids),
            "source_ids": list(self.source_ids),
            "targets": list(self.targets),
            "actors": list(self.actors),
            "disarm": list(self.disarm),
            "attack": list(self.attack),
            "evidence": self.evidence,
        }

    def evidence_json(self) -> str:
        return orjson.dumps(self.evidence, default=str).decode()


def load_findings(store: Any, type: str | None = None) -> list[dict[str, Any]]:
    """Findings in the contract's JSON form, highest score first, ties by id (deterministic)."""
    if type is not None and type not in FINDING_TYPES:
        raise ValueError(f"finding type {type!r} is not one of {', '.join(FINDING_TYPES)}")
    rows = store.rows(
        "SELECT * EXCLUDE (detector, created_at) FROM findings "
        "WHERE ? IS NULL OR type = ? ORDER BY score DESC, id",
        [type, type],
    )
    for row in rows:
        for key in ("first_seen", "last_seen"):
            row[key] = row[key].isoformat() if row[key] else None
        row["evidence"] = orjson.loads(row["evidence"]) if row["evidence"] else {}
    return rows
