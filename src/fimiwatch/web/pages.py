"""The workspace's HTML pages, server-rendered from the same queries as the JSON API.

A page without a signed-in user redirects to ``/login``, where the analyst pastes the token
``fimiwatch users add`` gave them; it is kept in an ``HttpOnly``, ``SameSite=Strict`` cookie.
Forms that change something carry a CSRF token and need the analyst role.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import urlencode

import duckdb
import orjson
from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, TemplateError, TemplateNotFound
from markupsafe import Markup

from fimiwatch.alerts import list_deliveries
from fimiwatch.findings import FINDING_TYPES, SEVERITIES
from fimiwatch.intel.stix_export import TLP_LEVELS
from fimiwatch.report.charts import daily_chart_png
from fimiwatch.triage.email import known_indicators
from fimiwatch.web import findings_index, queries, views
from fimiwatch.web.api import EXPORT_ROWS, cursor, finding_filter
from fimiwatch.web.auth import COOKIE, MaybeUser, Viewer, check_csrf, csrf_token
from fimiwatch.web.triage import UPLOAD_BYTES, triage_upload
from fimiwatch.web.users import user_for_token
from fimiwatch.web.workflow import WorkflowError, add_note, audit_log, set_status

PAGE_SIZE = 50
EVIDENCE_ITEMS = 60
"""Items listed under a finding; the rest are counted and reachable through the API."""

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)


class LoginRequired(Exception):
    """Raised by page dependencies; the app turns it into a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def login_redirect(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    return RedirectResponse("/login?" + urlencode({"next": error.next_path}), status_code=303)


def _page_user(request: Request, user: MaybeUser) -> Viewer:
    if user is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query
                                                else ""))  # fmt: skip
    return user


PageUser = Annotated[Viewer, Depends(_page_user)]


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(files("fimiwatch.web").joinpath("templates"))),
        autoescape=True,
    )
    environment.filters["when"] = _when
    environment.filters["pretty_json"] = lambda v: orjson.dumps(
        v, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    ).decode()
    for name in ("defang", "fixed", "percent", "hours"):
        environment.filters[name] = getattr(views, name)
    environment.globals.update(finding_types=FINDING_TYPES, severities=SEVERITIES,
                               statuses=queries.STATUSES, tlp_levels=TLP_LEVELS)  # fmt: skip
    return environment


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)[:16].replace("T", " ")


templates = Jinja2Templates(env=_environment())


def render(request: Request, user: Viewer | None, name: str, **context: Any) -> HTMLResponse:
    context |= {"user": user, "csrf": csrf_token(user) if user else "",
                "auth": request.app.state.auth}  # fmt: skip
    return templates.TemplateResponse(request, name, context)


def _safe_next(path: str | None) -> str:
    """Only a local path: an open redirect would let a link send a signed-in analyst anywhere."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


@router.get("/login")
def login_page(request: Request, user: MaybeUser, next: str = "/") -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, None, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    found = user_for_token(request.app.state.store, token.strip())
    if found is None:
        refused = render(request, None, "login.html", next=_safe_next(next),
                         error="That token is not valid.")  # fmt: skip
        refused.status_code = 401
        return refused
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")  # fmt: skip
    return response


@router.post("/logout")
def logout(user: PageUser, csrf: Annotated[str, Form()]) -> Response:
    check_csrf(user, csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def overview_page(request: Request, user: PageUser) -> Response:
    data = queries.overview(cursor(request))
    return render(request, user, "overview.html", data=data,
                  activity=views.activity_bars(data["activity"]),
                  alerts=_recent_alerts(request))  # fmt: skip


def _recent_alerts(request: Request) -> list[dict[str, Any]]:
    return list_deliveries(cursor(request), 10)


@router.get("/findings")
def findings_page(
    request: Request,
    user: PageUser,
    sort: str = "score",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    type: str | None = None,
    severity: str | None = None,
    status: str | None = None,
    target: str | None = None,
    actor: str | None = None,
    source: str | None = None,
    country: str | None = None,
    lang: str | None = None,
    q: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    try:
        where = finding_filter(
            type or None, severity or None, status or None, target or None, actor or None,
            source or None, country or None, lang or None, q or None,
            _date(since), _date(until),
        )  # fmt: skip
    except HTTPException as error:
        return _error(request, user, 422, str(error.detail))
    sort = sort if sort in queries.SORTS else "score"
    listing = orjson.loads(findings_index.page_json(
        request.app.state.store, cursor(request), where, sort, PAGE_SIZE, (page - 1) * PAGE_SIZE
    ))  # fmt: skip
    query = where.as_query() | {"sort": sort}
    return render(
        request, user, "findings.html", listing=listing, where=where, sort=sort,
        query=urlencode(query), filter_query=urlencode(where.as_query()),
        **_pager("/findings", query, page, listing["total"]),
    )  # fmt: skip


def _pager(path: str, query: dict[str, str], page: int, total: int) -> dict[str, Any]:
    """The page number, page count and previous/next links a listing template shows."""
    pages = max(1, -(-total // PAGE_SIZE))
    return {
        "page": page,
        "pages": pages,
        "prev_link": f"{path}?{urlencode(query | {'page': page - 1})}" if page > 1 else None,
        "next_link": f"{path}?{urlencode(query | {'page': page + 1})}" if page < pages else None,
    }


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise HTTPException(422, f"{text!r} is not a date (YYYY-MM-DD)") from error


def _error(request: Request, user: Viewer | None, status: int, message: str) -> HTMLResponse:
    response = render(request, user, "error.html", status=status, message=message)
    response.status_code = status
    return response


@router.get("/findings/{finding_id}")
def finding_page(request: Request, finding_id: str, user: PageUser) -> Response:
    con = cursor(request)
    finding = queries.finding_detail(con, finding_id)
    if finding is None:
        return _error(request, user, 404, f"No finding {finding_id!r}.")
    shown_ids = list(finding["item_ids"][:EVIDENCE_ITEMS])
    items = queries.items_by_id(con, shown_ids)
    ordered = [items[i] for i in shown_ids if i in items]
    return render(request, user, "finding.html", f=finding, evidence=finding["evidence"],
                  items=ordered, evidence_html=_evidence_html(con, finding, ordered),
                  audit=audit_log(con, finding_id, 50))  # fmt: skip


def _evidence_html(
    con: duckdb.DuckDBPyConnection, finding: dict[str, Any], items: list[dict[str, Any]]
) -> Markup:
    """The evidence drawn for the finding's type; evidence that does not have the expected
    shape (another detector's, an older version's) gets a note, and the raw JSON stays below."""
    try:
        extra = _evidence_context(con, finding, items)
        template = templates.env.get_template(f"evidence_{finding['type']}.html")
        return Markup(
            template.render(f=finding, evidence=finding["evidence"], items=items, **extra)
        )
    except TemplateNotFound:
        return Markup("<p class=\"empty\">No drawing for this type of finding; its evidence as "
                      "stored is below.</p>")  # fmt: skip
    except (TemplateError, TypeError, ValueError, KeyError, AttributeError) as error:
        logger.warning("finding %s: evidence not drawn: %s", finding["id"], error)
        return Markup("<p class=\"error\">The evidence does not have the shape this page "
                      "draws; it is shown as stored below.</p>")  # fmt: skip


def _evidence_context(
    con: duckdb.DuckDBPyConnection, finding: dict[str, Any], items: list[dict[str, Any]]
) -> dict[str, Any]:
    """What a type's evidence template needs beyond the evidence: the laundered pair's texts,
    the network's account names and layout, the timeline, the mail's or profile's raw facts."""
    evidence = finding["evidence"]
    if finding["type"] == "laundering":
        pair_ids = [i for p in evidence.get("pairs", []) for i in (p["origin_id"], p["copy_id"])]
        return {"pair_items": queries.items_by_id(con, pair_ids), "highlight": views.highlight}
    if finding["type"] == "coordination":
        accounts = queries.rows(
            con, "SELECT account_id, any_value(name) AS name FROM accounts "
                 "WHERE account_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
            [list(finding["account_ids"])],
        )  # fmt: skip
        names = {row["account_id"]: row["name"] for row in accounts}
        return {"network": views.network_layout(evidence.get("edges", []), names),
                "timeline": views.timeline(items)}  # fmt: skip
    if finding["type"] in ("phishing", "recruitment"):
        found = queries.rows(
            con, "SELECT id, extra FROM items WHERE id IN (SELECT unnest(?::VARCHAR[]))",
            [[i["id"] for i in items]],
        )  # fmt: skip
        return {"raw": {r["id"]: orjson.loads(r["extra"]) if r["extra"] else {} for r in found}}
    return {}


@router.get("/findings/{finding_id}/chart.png")
def narrative_chart(request: Request, finding_id: str, user: PageUser) -> Response:
    finding = queries.finding_detail(cursor(request), finding_id)
    if finding is None or finding["type"] != "narrative":
        raise HTTPException(404, f"no narrative finding {finding_id!r}")
    return Response(daily_chart_png(finding["evidence"], finding["title"]), media_type="image/png")


@router.post("/findings/{finding_id}/status")
def change_status(
    request: Request,
    finding_id: str,
    user: PageUser,
    csrf: Annotated[str, Form()],
    status: Annotated[str, Form()],
    tlp: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(user, csrf)
    if not user.can("analyst"):
        return _error(request, user, 403, "Changing a finding needs the analyst role.")
    try:
        set_status(cursor(request), finding_id, user.name, status or None, tlp or None)
    except WorkflowError as error:
        return _error(request, user, 422, str(error))
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)


@router.post("/findings/{finding_id}/notes")
def post_note(
    request: Request,
    finding_id: str,
    user: PageUser,
    csrf: Annotated[str, Form()],
    text: Annotated[str, Form(max_length=10_000)],
) -> Response:
    check_csrf(user, csrf)
    if not user.can("analyst"):
        return _error(request, user, 403, "Adding a note needs the analyst role.")
    try:
        add_note(cursor(request), finding_id, user.name, text)
    except WorkflowError as error:
        return _error(request, user, 422, str(error))
    return RedirectResponse(f"/findings/{finding_id}#notes", status_code=303)


@router.get("/narratives")
def narratives_page(request: Request, user: PageUser) -> Response:
    return render(request, user, "narratives.html", narratives=queries.narratives(cursor(request)))


@router.get("/actors")
def actors_page(request: Request, user: PageUser, q: str | None = None) -> Response:
    return render(request, user, "actors.html", actors=queries.actors(cursor(request), q or None),
                  q=q or "")  # fmt: skip


@router.get("/actors/{actor_id}")
def actor_page(request: Request, actor_id: str, user: PageUser) -> Response:
    found = queries.actor(cursor(request), actor_id)
    if found is None:
        return _error(request, user, 404, f"No actor {actor_id!r}.")
    return render(request, user, "actor.html", actor=found)


@router.get("/sources")
def sources_page(request: Request, user: PageUser) -> Response:
    return render(request, user, "sources.html", sources=queries.sources(cursor(request)))


@router.get("/targets")
def targets_page(request: Request, user: PageUser) -> Response:
    return render(request, user, "targets.html", targets=queries.targets(cursor(request)))


@router.get("/items")
def items_page(
    request: Request,
    user: PageUser,
    q: str | None = None,
    platform: str | None = None,
    source: str | None = None,
    lang: str | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    listing = queries.list_items(cursor(request), q or None, platform or None, source or None,
                                 lang or None, PAGE_SIZE, (page - 1) * PAGE_SIZE)  # fmt: skip
    query = {k: v for k, v in {"q": q, "platform": platform, "source": source,
                               "lang": lang}.items() if v}  # fmt: skip
    return render(
        request, user, "items.html", listing=listing, q=q or "", platform=platform or "",
        source=source or "", lang=lang or "", **_pager("/items", query, page, listing["total"]),
    )  # fmt: skip


@router.get("/items/{item_id:path}")
def item_page(request: Request, item_id: str, user: PageUser) -> Response:
    found = queries.item(cursor(request), item_id)
    if found is None:
        return _error(request, user, 404, f"No item {item_id!r}.")
    return render(request, user, "item.html", item=found)


@router.get("/triage")
def triage_page(request: Request, user: PageUser) -> Response:
    return render(request, user, "triage.html", result=None, error=None,
                  limit_mb=UPLOAD_BYTES // (1024 * 1024))  # fmt: skip


@router.post("/triage")
async def triage_submit(
    request: Request,
    user: PageUser,
    csrf: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
) -> Response:
    check_csrf(user, csrf)
    if kind not in ("email", "profile"):
        return _error(request, user, 422, "Choose a mail or a profile.")
    data = await file.read(UPLOAD_BYTES + 1)
    result, error = None, None
    try:
        result = triage_upload(kind, file.filename or "upload", data,
                               known_indicators(cursor(request)))  # fmt: skip
    except ValueError as problem:
        error = str(problem)
    response = render(request, user, "triage.html", result=result, error=error,
                      limit_mb=UPLOAD_BYTES // (1024 * 1024))  # fmt: skip
    if error:
        response.status_code = 413 if "larger" in error else 422
    return response


@router.get("/exports")
def exports_page(request: Request, user: PageUser) -> Response:
    return render(request, user, "exports.html", export_rows=EXPORT_ROWS)


@router.get("/audit")
def audit_page(request: Request, user: PageUser) -> Response:
    return render(request, user, "audit.html", entries=audit_log(cursor(request), None, 500))
