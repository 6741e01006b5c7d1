"""Reads for the CLI and the web app: rules and the delivery log, as plain dicts. They take a
connection or a cursor, so a web request can read on its own cursor."""

from __future__ import annotations

from typing import Any

import duckdb

from fimiwatch.store import query_rows as rows


def list_rules(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every rule with its delivery counts by state, by name (for the CLI and the web app)."""
    return rows(
        con,
        """
        SELECT r.name, r.finding_type, r.min_severity, r.target, r.actor, r.channel,
               r.destination, r.enabled, r.created_at,
               count(d.finding_id) FILTER (WHERE d.state = 'delivered') AS delivered,
               count(d.finding_id) FILTER (WHERE d.state = 'pending') AS pending,
               count(d.finding_id) FILTER (WHERE d.state = 'failed') AS failed
        FROM alert_rules r LEFT JOIN alert_deliveries d ON d.rule = r.name
        GROUP BY ALL ORDER BY r.name
        """,
        [],
    )


def list_deliveries(con: duckdb.DuckDBPyConnection, limit: int = 50) -> list[dict[str, Any]]:
    """Deliveries, latest activity first (skipped matches of new rules left out)."""
    return rows(
        con,
        """
        SELECT d.rule, d.finding_id, f.title, r.channel, d.state, d.attempts,
               d.last_attempt_at, d.next_attempt_at, d.delivered_at, d.last_error, d.created_at
        FROM alert_deliveries d
        LEFT JOIN alert_rules r ON r.name = d.rule
        LEFT JOIN findings f ON f.id = d.finding_id
        WHERE d.state <> 'skipped'
        ORDER BY coalesce(d.last_attempt_at, d.created_at) DESC, d.rule, d.finding_id
        LIMIT ?
        """,
        [limit],
    )
