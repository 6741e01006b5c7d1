"""What one alert says: the finding's headline facts, the rule that matched and a link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Alert:
    rule: str
    finding_id: str
    type: str
    severity: str
    score: float
    title: str
    summary: str
    targets: tuple[str, ...]
    actors: tuple[str, ...]
    first_seen: datetime | None
    last_seen: datetime | None
    link: str

    @property
    def alert_id(self) -> str:
        """Stable per (rule, finding): receivers can drop a repeat after a crash mid-delivery."""
        return f"{self.rule}/{self.finding_id}"

    @classmethod
    def from_row(cls, row: dict[str, Any], link_base: str) -> Alert:
        """From a row of the delivery query (rule, the finding's columns)."""
        return cls(
            rule=row["rule"],
            finding_id=row["finding_id"],
            type=row["type"],
            severity=row["severity"],
            score=float(row["score"]),
            title=row["title"],
            summary=row["summary"],
            targets=tuple(row["targets"] or ()),
            actors=tuple(row["actors"] or ()),
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            link=f"{link_base.rstrip('/')}/findings/{quote(row['finding_id'], safe='')}",
        )

    def to_json(self) -> dict[str, Any]:
        """The webhook body and the file line."""
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "finding_id": self.finding_id,
            "type": self.type,
            "severity": self.severity,
            "score": round(self.score, 4),
            "title": self.title,
            "summary": self.summary,
            "targets": list(self.targets),
            "actors": list(self.actors),
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "link": self.link,
        }
