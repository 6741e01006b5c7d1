"""The reads behind both the JSON API and the HTML pages, so the two always show the same data.

Each function takes a DuckDB cursor (one per request: DuckDB's thread-safe path) and returns
plain dicts and lists, ready for JSON or a template.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import duckdb
import orjson

from fimiwatch.findings import FINDING_TYPES, SEVERITIES
from fimiwatch.store import query_rows as rows

STATUSES = ("new", "confirmed", "dismissed")
SORTS = {
    "score": "f.score DESC, f.id",
    "newest": "f.last_seen DESC NULLS LAST, f.id",
    "oldest": "f.first_seen ASC NULLS LAST, f.id",
    "severity": "list_position(?, f.severity) DESC, f.score DESC, f.id",
}
TEXT_CHARS = 4000
FINDING_COLUMNS = (
    "f.id, f.type, f.title, f.summary, f.score, f.severity, f.first_seen, f.last_seen, "
    "f.item_ids, f.account_ids, f.source_ids, f.targets, f.actors, f.disarm, f.attack, "
    "coalesce(s.status, 'new') AS status, s.tlp, coalesce(x.langs, []) AS langs, "
    "coalesce(x.countries, []) AS countries"
)
FINDING_FROM = (
    "findings f LEFT JOIN finding_status s ON s.finding_id = f.id "
    "LEFT JOIN finding_facets x ON x.finding_id = f.id"
)


@dataclass(frozen=True)
class FindingFilter:
    """What an analyst can narrow the findings list by; every field optional."""

    type: str | None = None
    severity: str | None = None
    status: str | None = None
    target: str | None = None
    actor: str | None = None
    source: str | None = None
    country: str | None = None
    lang: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("type", FINDING_TYPES), ("severity", SEVERITIES),
                              ("status", STATUSES)):  # fmt: skip
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")

    def as_query(self) -> dict[str, str]:
        """The filter as URL query parameters (for paging links), empty fields left out."""
        out = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value not in (None, ""):
                out[field.name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return out

    def where(self) -> tuple[str, list[Any]]:
        allowed = list(SEVERITIES[SEVERITIES.index(self.severity) :]) if self.severity else None
        sql = """
            (? IS NULL OR f.type = ?) AND (?::VARCHAR[] IS NULL OR list_contains(?, f.severity))
            AND (? IS NULL OR coalesce(s.status, 'new') = ?)
            AND (? IS NULL OR list_contains(f.targets, ?))
            AND (? IS NULL OR list_contains(f.actors, ?))
            AND (? IS NULL OR list_contains(f.source_ids, ?))
            AND (? IS NULL OR list_contains(x.countries, ?))
            AND (? IS NULL OR list_contains(x.langs, ?))
            AND (? IS NULL OR f.title ILIKE '%' || ? || '%' OR f.summary ILIKE '%' || ? || '%')
            AND (? IS NULL OR f.last_seen >= ?) AND (? IS NULL OR f.first_seen <= ?)
        """
        params = [self.type, self.type, allowed, allowed, self.status, self.status,
                  self.target, self.target, self.actor, self.actor, self.source, self.source,
                  self.country, self.country, self.lang, self.lang, self.q, self.q, self.q,
                  self.since, self.since, self.until, self.until]  # fmt: skip
        return sql, params


def list_findings(
    con: duckdb.DuckDBPyConnection,
    where: FindingFilter,
    sort: str = "score",
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """One page of findings and the total that match."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    sql, params = where.where()
    total = rows(con, f"SELECT count(*) AS n FROM {FINDING_FROM} WHERE {sql}", params)[0]["n"]
    order_params = [list(SEVERITIES)] if sort == "severity" else []
    page = rows(
        con,
        f"SELECT {FINDING_COLUMNS} FROM {FINDING_FROM} WHERE {sql} "
        f"ORDER BY {SORTS[sort]} LIMIT ? OFFSET ?",
        [*params, *order_params, limit, offset],
    )
    return {"total": total, "limit": limit, "offset": offset, "findings": page}


def finding_detail(con: duckdb.DuckDBPyConnection, finding_id: str) -> dict[str, Any] | None:
    """A finding with its evidence, notes and the items it names (text bounded)."""
    found = rows(con, f"SELECT {FINDING_COLUMNS}, f.evidence, f.detector FROM {FINDING_FROM} "
                      "WHERE f.id = ?", [finding_id])  # fmt: skip
    if not found:
        return None
    result = found[0]
    result["evidence"] = orjson.loads(result["evidence"]) if result["evidence"] else {}
    result["notes"] = rows(
        con,
        "SELECT note_id, author, text, created_at FROM finding_notes WHERE finding_id = ? "
        "ORDER BY created_at, note_id",
        [finding_id],
    )
    return result


def items_by_id(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Items with bounded text, keyed by id, for showing a finding's evidence."""
    return {
        row["id"]: row
        for row in rows(
            con,
            "SELECT id, published_at, platform, source, account_id, account_name, lang, url, "
            f"title, left(text, {TEXT_CHARS}) AS text FROM items "
            "WHERE id IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        )
    }


def list_items(
    con: duckdb.DuckDBPyConnection,
    q: str | None = None,
    platform: str | None = None,
    source: str | None = None,
    lang: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    where = """
        (? IS NULL OR platform = ?) AND (? IS NULL OR source = ?) AND (? IS NULL OR lang = ?)
        AND (? IS NULL OR title ILIKE '%' || ? || '%' OR text ILIKE '%' || ? || '%')
    """
    params = [platform, platform, source, source, lang, lang, q, q, q]
    total = rows(con, f"SELECT count(*) AS n FROM items WHERE {where}", params)[0]["n"]
    page = rows(
        con,
        "SELECT id, published_at, platform, source, account_id, account_name, lang, url, "
        f"title, left(text, {TEXT_CHARS}) AS text FROM items WHERE {where} "
        "ORDER BY published_at DESC NULLS LAST, id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return {"total": total, "limit": limit, "offset": offset, "items": page}


def item(con: duckdb.DuckDBPyConnection, item_id: str) -> dict[str, Any] | None:
    found = rows(
        con,
        "SELECT id, published_at, platform, source, account_id, account_name, lang, url, "
        "title, text, links, hashtags, mentions, repost_of, reply_to FROM items WHERE id = ?",
        [item_id],
    )
    return found[0] if found else None


def actors(con: duckdb.DuckDBPyConnection, q: str | None = None) -> list[dict[str, Any]]:
    """Threat actors with aliases and how many findings name each."""
    return rows(
        con,
        """SELECT a.actor_id, a.name, a.kind, a.country, a.sponsor, a.techniques,
                  list(DISTINCT al.alias ORDER BY al.alias) FILTER (al.alias IS NOT NULL)
                      AS aliases,
                  (SELECT count(*) FROM findings f WHERE list_contains(f.actors, a.actor_id))
                      AS findings
           FROM kb_actors a LEFT JOIN kb_aliases al USING (actor_id)
           GROUP BY ALL
           HAVING ? IS NULL OR a.name ILIKE '%' || ? || '%'
               OR list_contains(list(lower(al.alias)), lower(?))
           ORDER BY a.actor_id""",
        [q, q, q],
    )


def actor(con: duckdb.DuckDBPyConnection, actor_id: str) -> dict[str, Any] | None:
    """An actor with aliases, ATT&CK techniques (named), incidents and linked findings."""
    found = [a for a in actors(con) if a["actor_id"] == actor_id]
    if not found:
        return None
    result = found[0]
    result["technique_names"] = rows(
        con,
        "SELECT technique_id, name FROM kb_techniques "
        "WHERE list_contains(?, technique_id) ORDER BY technique_id",
        [result["techniques"] or []],
    )
    result["incidents"] = rows(
        con,
        "SELECT incident_id, title, date_start, date_end, target_countries, attribution, "
        "attributed_by, summary FROM kb_incidents WHERE list_contains(actors, ?) "
        "ORDER BY date_start DESC NULLS LAST, incident_id",
        [actor_id],
    )
    result["linked_findings"] = rows(
        con,
        "SELECT id, type, title, severity, score FROM findings "
        "WHERE list_contains(actors, ?) ORDER BY score DESC, id LIMIT 200",
        [actor_id],
    )
    return result


def sources(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return rows(
        con,
        "SELECT s.source, s.name, s.domain, s.platform, s.country, s.language, s.affiliation, "
        "s.owner_state, s.loaded_from, count(i.id) AS items "
        "FROM sources s LEFT JOIN items i ON i.source = s.source GROUP BY ALL ORDER BY s.source",
        [],
    )


def targets(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return rows(
        con,
        """SELECT w.kind, w.name, w.aliases, w.country, w.role, w.domains,
                  count(f.id) AS findings,
                  list(f.id ORDER BY f.score DESC, f.id) FILTER (f.id IS NOT NULL)
                      AS finding_ids
           FROM watchlist w LEFT JOIN findings f ON list_contains(f.targets, w.name)
           GROUP BY ALL ORDER BY w.kind, w.name""",
        [],
    )


def narratives(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Narratives (defined and discovered) with their item counts and finding, if any."""
    return rows(
        con,
        """SELECT n.narrative, any_value(n.name) AS name, any_value(n.kind) AS kind,
                  count(*) AS items,
                  any_value(f.id) AS finding_id, any_value(f.severity) AS severity
           FROM narrative_items n
           LEFT JOIN findings f ON f.type = 'narrative'
               AND json_extract_string(f.evidence, '$.narrative') = n.narrative
           GROUP BY n.narrative ORDER BY items DESC, n.narrative""",
        [],
    )


def overview(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Counts, the newest findings and findings per type per week, for the overview page."""
    counts = {
        t: n
        for t, n in con.execute(
            "SELECT type, count(*) FROM findings GROUP BY ALL ORDER BY type"
        ).fetchall()
    }
    stored = {
        name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]
        for name in ("items", "sources", "watchlist", "findings")
    }
    activity = rows(
        con,
        "SELECT date_trunc('week', first_seen)::DATE AS week, type, count(*) AS n "
        "FROM findings WHERE first_seen IS NOT NULL GROUP BY ALL ORDER BY week, type",
        [],
    )
    newest = rows(
        con,
        f"SELECT {FINDING_COLUMNS} FROM {FINDING_FROM} "
        "ORDER BY f.created_at DESC, f.last_seen DESC NULLS LAST, f.score DESC, f.id LIMIT 10",
        [],
    )
    by_status = dict(
        con.execute(
            "SELECT coalesce(s.status, 'new'), count(*) FROM findings f "
            "LEFT JOIN finding_status s ON s.finding_id = f.id GROUP BY ALL"
        ).fetchall()
    )
    return {"stored": stored, "by_type": counts, "by_status": by_status,
            "activity": activity, "newest": newest}  # fmt: skip
