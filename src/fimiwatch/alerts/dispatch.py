"""Queue new matches, then attempt the deliveries that are due, with backoff on failure.

Safe to call as often as wanted (after every run, or from a monitor loop): a (rule, finding)
pair is queued once, and once delivered it is never sent again. Each outcome is written as
soon as the attempt ends, so a crash can repeat at most the one alert that was in flight; the
payload's ``alert_id`` (and the mail's Message-ID) let receivers drop that repeat.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from fimiwatch.alerts.channels import open_channel
from fimiwatch.alerts.payload import Alert
from fimiwatch.alerts.rules import queue_matches
from fimiwatch.config import AlertSettings, Settings
from fimiwatch.store import Store
from fimiwatch.store import query_rows as rows

ERROR_CHARS = 500


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt: what a metrics exporter counts, by channel and outcome."""

    rule: str
    finding_id: str
    channel: str
    outcome: str
    """delivered; retry (failed, will be tried again); failed (for the last time)."""
    error: str | None = None


@dataclass
class DispatchSummary:
    queued: int = 0
    """New (rule, finding) matches queued by this call."""
    attempts: list[Attempt] = field(default_factory=list)
    postponed: int = 0
    """Due deliveries not tried because their rule's channel had just failed in this call."""

    def count(self, outcome: str) -> int:
        return sum(1 for attempt in self.attempts if attempt.outcome == outcome)

    def describe(self) -> str:
        return (
            f"{self.queued} new alerts queued; {self.count('delivered')} delivered, "
            f"{self.count('retry')} to retry, {self.count('failed')} given up, "
            f"{self.postponed} postponed"
        )


def backoff_delay(failures: int, settings: AlertSettings, draw: float) -> timedelta:
    """Wait after the n-th failure: backoff × 2^(n−1), grown by up to the jitter fraction
    (``draw`` in [0, 1)), never more than backoff_max_seconds."""
    seconds = settings.backoff_seconds * 2 ** (failures - 1) * (1 + settings.backoff_jitter * draw)
    return timedelta(seconds=min(settings.backoff_max_seconds, seconds))


def dispatch(
    store: Store,
    settings: Settings,
    now: datetime | None = None,
    *,
    draw: Callable[[], float] = random.random,
) -> DispatchSummary:
    """Queue every new match of every enabled rule, then attempt the due deliveries.

    A channel's exception never stops the others: it is recorded on the delivery, which is
    retried after a backoff or, after ``max_attempts``, marked failed. After one failure, the
    rest of that rule's due deliveries wait until the failed one's next attempt, so a dead
    endpoint costs one timeout per backoff period, not one per queued alert.
    """
    now = now or datetime.now(UTC)
    summary = DispatchSummary(queued=queue_matches(store.con, now))
    alerts = settings.alerts
    waiting_until: dict[str, datetime] = {}
    for row in rows(store.con, DUE_SQL, [now]):
        if row["rule"] in waiting_until:
            summary.postponed += 1
            continue
        if row["type"] is None:
            _record_failure(store.con, row, "the finding no longer exists", now, None)
            summary.attempts.append(_attempt(row, "failed", "the finding no longer exists"))
            continue
        try:
            channel = open_channel(row["channel"], row["destination"], alerts)
            channel.send(Alert.from_row(row, alerts.link_base))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
            failures = row["attempts"] + 1
            retry_at = None
            if failures < alerts.max_attempts:
                retry_at = now + backoff_delay(failures, alerts, draw())
            _record_failure(store.con, row, error, now, retry_at)
            summary.attempts.append(_attempt(row, "retry" if retry_at else "failed", error))
            waiting_until[row["rule"]] = retry_at or now + backoff_delay(1, alerts, draw())
        else:
            store.con.execute(
                "UPDATE alert_deliveries SET state = 'delivered', attempts = attempts + 1, "
                "next_attempt_at = NULL, last_attempt_at = ?, delivered_at = ? "
                "WHERE rule = ? AND finding_id = ?",
                [now, now, row["rule"], row["finding_id"]],
            )
            summary.attempts.append(_attempt(row, "delivered", None))
    for rule, until in waiting_until.items():
        store.con.execute(
            "UPDATE alert_deliveries SET next_attempt_at = ? "
            "WHERE rule = ? AND state = 'pending' AND next_attempt_at <= ?",
            [until, rule, now],
        )
    return summary


DUE_SQL = """
SELECT d.rule, d.finding_id, d.attempts, r.channel, r.destination,
       f.type, f.severity, f.score, f.title, f.summary, f.targets, f.actors,
       f.first_seen, f.last_seen
FROM alert_deliveries d
JOIN alert_rules r ON r.name = d.rule AND r.enabled
LEFT JOIN findings f ON f.id = d.finding_id
WHERE d.state = 'pending' AND d.next_attempt_at <= ?
ORDER BY d.rule, d.created_at, d.finding_id
"""


def _record_failure(
    con: duckdb.DuckDBPyConnection,
    row: dict[str, Any],
    error: str,
    now: datetime,
    retry_at: datetime | None,
) -> None:
    """Count the attempt; pending again at ``retry_at``, or failed for good when None."""
    con.execute(
        "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?, "
        "last_attempt_at = ?, next_attempt_at = ?, state = ? WHERE rule = ? AND finding_id = ?",
        [error, now, retry_at, "pending" if retry_at else "failed", row["rule"],
         row["finding_id"]],
    )  # fmt: skip


def _attempt(row: dict[str, Any], outcome: str, error: str | None) -> Attempt:
    return Attempt(row["rule"], row["finding_id"], row["channel"], outcome, error)
