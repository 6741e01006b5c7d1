"""The REST API (``fimiwatch serve``): findings, items, actors, sources and targets as JSON under
``/api``, described at ``/openapi.json``.

Every request needs ``Authorization: Bearer TOKEN`` of a user made with ``fimiwatch users add``,
unless the server was started with ``--no-auth`` on a loopback address (``fimiwatch serve``
refuses it elsewhere). Everything served comes from hostile input, so responses are JSON only,
with a Content-Security-Policy that lets nothing load and ``nosniff``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fimiwatch.findings import FINDING_TYPES, SEVERITIES
from fimiwatch.store import Store
from fimiwatch.web.users import user_for_token

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_PAGE = 500
TEXT_CHARS = 4000
FINDING_COLUMNS = (
    "id, type, title, summary, score, severity, first_seen, last_seen, item_ids, account_ids, "
    "source_ids, targets, actors, disarm, attack"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_bearer = HTTPBearer(auto_error=False)


def _user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[str, str]:
    """(name, role) of the request's bearer token; 401 without a valid one."""
    if not request.app.state.auth:
        return ("anonymous", "admin")
    store: Store = request.app.state.store
    found = user_for_token(store, credentials.credentials) if credentials else None
    if found is None:
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return found


User = Annotated[tuple[str, str], Depends(_user)]


def create_app(store: Store, auth: bool = True) -> FastAPI:
    """The API over an open store; ``auth=False`` only for loopback use (the CLI checks)."""
    app = FastAPI(
        title="fimiwatch",
        description="Findings on foreign information manipulation and interference, with the "
        "evidence behind them.",
        version="0.1.0",
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: not served
        docs_url=None,
        redoc_url=None,
    )
    app.state.store, app.state.auth = store, auth

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
        cursor = store.con.cursor()  # one cursor per request: DuckDB's thread-safe path
        result = cursor.execute(sql, params)
        names = [c[0] for c in result.description or []]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    @app.get("/api/findings", summary="Findings, filtered and paged, highest score first")
    def findings(
        _: User,
        type: Annotated[str | None, Query(description=f"One of {', '.join(FINDING_TYPES)}")] = None,
        severity: Annotated[str | None, Query(description="Minimum severity")] = None,
        target: str | None = None,
        actor: str | None = None,
        source: str | None = None,
        q: Annotated[str | None, Query(description="Text in title or summary")] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        if type is not None and type not in FINDING_TYPES:
            raise HTTPException(422, f"type must be one of {', '.join(FINDING_TYPES)}")
        if severity is not None and severity not in SEVERITIES:
            raise HTTPException(422, f"severity must be one of {', '.join(SEVERITIES)}")
        allowed = list(SEVERITIES[SEVERITIES.index(severity) :]) if severity else list(SEVERITIES)
        where = """
            (? IS NULL OR type = ?) AND severity IN (SELECT unnest(?))
            AND (? IS NULL OR list_contains(targets, ?)) AND (? IS NULL OR list_contains(actors, ?))
            AND (? IS NULL OR list_contains(source_ids, ?))
            AND (? IS NULL OR title ILIKE '%' || ? || '%' OR summary ILIKE '%' || ? || '%')
            AND (? IS NULL OR last_seen >= ?) AND (? IS NULL OR first_seen <= ?)
        """
        params = [type, type, allowed, target, target, actor, actor, source, source, q, q, q,
                  since, since, until, until]  # fmt: skip
        total = rows(f"SELECT count(*) AS n FROM findings WHERE {where}", params)[0]["n"]
        page = rows(
            f"SELECT {FINDING_COLUMNS} FROM findings WHERE {where} "
            "ORDER BY score DESC, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return {"total": total, "limit": limit, "offset": offset, "findings": page}

    @app.get("/api/findings/{finding_id}", summary="One finding with its evidence")
    def finding(finding_id: str, _: User) -> dict[str, Any]:
        found = rows(f"SELECT {FINDING_COLUMNS}, evidence FROM findings WHERE id = ?",
                     [finding_id])  # fmt: skip
        if not found:
            raise HTTPException(404, f"no finding {finding_id!r}")
        result = found[0]
        result["evidence"] = orjson.loads(result["evidence"]) if result["evidence"] else {}
        return result

    @app.get("/api/items", summary="Items, searched and paged, newest first")
    def items(
        _: User,
        q: Annotated[str | None, Query(description="Text in title or body")] = None,
        platform: str | None = None,
        source: str | None = None,
        lang: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        where = """
            (? IS NULL OR platform = ?) AND (? IS NULL OR source = ?) AND (? IS NULL OR lang = ?)
            AND (? IS NULL OR title ILIKE '%' || ? || '%' OR text ILIKE '%' || ? || '%')
        """
        params = [platform, platform, source, source, lang, lang, q, q, q]
        total = rows(f"SELECT count(*) AS n FROM items WHERE {where}", params)[0]["n"]
        page = rows(
            "SELECT id, published_at, platform, source, account_id, account_name, lang, url, "
            f"title, left(text, {TEXT_CHARS}) AS text FROM items WHERE {where} "
            "ORDER BY published_at DESC NULLS LAST, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return {"total": total, "limit": limit, "offset": offset, "items": page}

    @app.get("/api/items/{item_id}", summary="One item")
    def item(item_id: str, _: User) -> dict[str, Any]:
        found = rows(
            "SELECT id, published_at, platform, source, account_id, account_name, lang, url, "
            "title, text, links, hashtags, mentions, repost_of, reply_to FROM items WHERE id = ?",
            [item_id],
        )
        if not found:
            raise HTTPException(404, f"no item {item_id!r}")
        return found[0]

    @app.get("/api/actors", summary="Threat actors of the knowledge base, with aliases")
    def actors(_: User, q: str | None = None) -> list[dict[str, Any]]:
        return rows(
            """SELECT a.actor_id, a.name, a.kind, a.country, a.sponsor, a.techniques,
                      list(DISTINCT al.alias ORDER BY al.alias) FILTER (al.alias IS NOT NULL)
                          AS aliases
               FROM kb_actors a LEFT JOIN kb_aliases al USING (actor_id)
               GROUP BY ALL
               HAVING ? IS NULL OR a.name ILIKE '%' || ? || '%'
                   OR list_contains(list(lower(al.alias)), lower(?))
               ORDER BY a.actor_id""",
            [q, q, q],
        )

    @app.get("/api/sources", summary="The source registry")
    def sources(_: User) -> list[dict[str, Any]]:
        return rows(
            "SELECT source, name, domain, platform, country, language, affiliation, "
            "owner_state, loaded_from FROM sources ORDER BY source",
            [],
        )

    @app.get("/api/targets", summary="The watchlist, with the findings that concern each entry")
    def targets(_: User) -> list[dict[str, Any]]:
        return rows(
            """SELECT w.kind, w.name, w.aliases, w.country, w.role, w.domains,
                      count(f.id) AS findings,
                      list(f.id ORDER BY f.score DESC, f.id) FILTER (f.id IS NOT NULL)
                          AS finding_ids
               FROM watchlist w LEFT JOIN findings f ON list_contains(f.targets, w.name)
               GROUP BY ALL ORDER BY w.kind, w.name""",
            [],
        )

    return app
