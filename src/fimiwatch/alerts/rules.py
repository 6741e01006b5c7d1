"""Alert rules: which findings (type, minimum severity, target, actor) go where.

Matching is one SQL statement over ``findings`` that records each new (rule, finding) pair in
``alert_deliveries``, whose primary key makes every alert exist once. A new rule does not alert
on the findings that already match it: those pairs are recorded as ``skipped``, unless the rule
is added with ``backfill``. Finding ids are stable across runs, so a finding that a later run
re-creates is still the same pair and never alerts twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from fimiwatch.alerts.channels import CHANNELS, check_destination
from fimiwatch.findings import FINDING_TYPES, SEVERITIES
from fimiwatch.store import Store

RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")


@dataclass(frozen=True)
class Rule:
    """A validated rule: construction fails on an unknown type, severity or channel, or a
    destination its channel cannot use. Criteria left as None match every finding."""

    name: str
    channel: str
    destination: str
    finding_type: str | None = None
    min_severity: str | None = None
    """'high' matches high and critical findings."""
    target: str | None = None
    actor: str | None = None

    def __post_init__(self) -> None:
        if not RULE_NAME.match(self.name):
            raise ValueError(f"rule name {self.name!r}: 1–64 letters, digits, '_', '.', '@' or '-'")
        if self.channel not in CHANNELS:
            raise ValueError(f"channel {self.channel!r} is not one of {', '.join(CHANNELS)}")
        if self.finding_type is not None and self.finding_type not in FINDING_TYPES:
            raise ValueError(
                f"finding type {self.finding_type!r} is not one of {', '.join(FINDING_TYPES)}"
            )
        if self.min_severity is not None and self.min_severity not in SEVERITIES:
            raise ValueError(
                f"severity {self.min_severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        check_destination(self.channel, self.destination)


def add_rule(
    store: Store, rule: Rule, *, backfill: bool = False, now: datetime | None = None
) -> int:
    """Store a rule. Returns how many existing findings it matches: with ``backfill`` they are
    queued for delivery, without it they are recorded as skipped and never alert."""
    now = now or datetime.now(UTC)
    with store.transaction() as con:
        if con.execute("SELECT 1 FROM alert_rules WHERE name = ?", [rule.name]).fetchone():
            raise ValueError(f"an alert rule named {rule.name!r} exists; remove it first")
        con.execute(
            "INSERT INTO alert_rules (name, finding_type, min_severity, target, actor, channel, "
            "destination, enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, true, ?)",
            [rule.name, rule.finding_type, rule.min_severity, rule.target, rule.actor,
             rule.channel, rule.destination, now],
        )  # fmt: skip
        return queue_matches(con, now, only_rule=rule.name, skip=not backfill)


def remove_rule(store: Store, name: str) -> bool:
    """Remove a rule and its deliveries: pending ones are never sent."""
    with store.transaction() as con:
        con.execute("DELETE FROM alert_deliveries WHERE rule = ?", [name])
        removed = con.execute(
            "DELETE FROM alert_rules WHERE name = ? RETURNING name", [name]
        ).fetchall()
    return bool(removed)


def set_enabled(store: Store, name: str, enabled: bool, now: datetime | None = None) -> bool:
    """Pause or resume a rule. A paused rule queues and sends nothing; on resuming, findings
    that appeared meanwhile are skipped, as for a new rule, so resuming does not flood."""
    now = now or datetime.now(UTC)
    with store.transaction() as con:
        changed = con.execute(
            "UPDATE alert_rules SET enabled = ? WHERE name = ? RETURNING name", [enabled, name]
        ).fetchall()
        if changed and enabled:
            queue_matches(con, now, only_rule=name, skip=True)
    return bool(changed)


MATCH_SQL = """
INSERT INTO alert_deliveries
    (rule, finding_id, state, attempts, next_attempt_at, created_at)
SELECT r.name, f.id, $state, 0, $next_attempt_at, $now
FROM alert_rules r JOIN findings f
  ON (r.finding_type IS NULL OR f.type = r.finding_type)
 AND (r.min_severity IS NULL
      OR list_position($severities, f.severity) >= list_position($severities, r.min_severity))
 AND (r.target IS NULL OR list_contains(f.targets, r.target))
 AND (r.actor IS NULL OR list_contains(f.actors, r.actor))
WHERE r.enabled AND ($rule::VARCHAR IS NULL OR r.name = $rule)
ON CONFLICT DO NOTHING
RETURNING 1
"""
"""Targets and actors match exactly, as in the workspace's finding filters."""


def queue_matches(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    *,
    only_rule: str | None = None,
    skip: bool = False,
) -> int:
    """Record the (rule, finding) pairs not seen before, due at ``now`` (or as skipped);
    returns how many."""
    params = {
        "state": "skipped" if skip else "pending",
        "next_attempt_at": None if skip else now,
        "now": now,
        "severities": list(SEVERITIES),
        "rule": only_rule,
    }
    return len(con.execute(MATCH_SQL, params).fetchall())
