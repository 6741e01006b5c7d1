"""The JSON API under ``/api``: everything the pages show, plus workflow changes, triage and
exports. Reads go through ``queries.py``, the same functions the pages use."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any

import duckdb
import orjson
from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from fimiwatch.alerts import list_deliveries, list_rules
from fimiwatch.findings import FINDING_TYPES, SEVERITIES
from fimiwatch.intel.stix_export import (
    TLP_LEVELS,
    export_stix,
    serialize_bundle,
    withheld_unless_red,
)
from fimiwatch.store import Store
from fimiwatch.triage.email import known_indicators
from fimiwatch.web import exports, findings_index, queries
from fimiwatch.web.auth import Analyst, User
from fimiwatch.web.triage import UPLOAD_BYTES, triage_upload
from fimiwatch.web.workflow import NOTE_CHARS, WorkflowError, add_note, audit_log, set_status

MAX_PAGE = 500
EXPORT_ROWS = 100_000


_DETAIL = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "object", "required": ["loc", "msg", "type"]}},
    ]}},
}  # fmt: skip
_BUNDLE = {
    "type": "object",
    "required": ["type", "id", "objects"],
    "properties": {
        "type": {"const": "bundle"},
        "id": {"type": "string"},
        "objects": {"type": "array", "items": {"type": "object"}},
    },
}
_REASONS = {
    400: "The body cannot be parsed",
    401: "No valid bearer token",
    403: "The user's role does not allow it",
    404: "No such object",
    413: "The upload is too large",
    422: "Invalid input: FastAPI's validation errors, or a message",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error responses for the OpenAPI document: ``{"detail": message or [errors]}``, JSON."""
    return {
        code: {"description": _REASONS[code], "content": {"application/json": {"schema": _DETAIL}}}
        for code in codes
    }


class CsvResponse(Response):
    media_type = "text/csv"


class GexfResponse(Response):
    media_type = "application/gexf+xml"


class StixResponse(Response):
    media_type = "application/stix+json;version=2.1"


router = APIRouter(prefix="/api", responses=_errors(401))
Tlp = Annotated[
    str,
    Query(
        description="The marking asked for; findings whose own TLP is RED are left out unless "
        "this is red",
        json_schema_extra={"enum": list(TLP_LEVELS)},
    ),
]
_export_lock = threading.Lock()
"""The STIX exporter reads through the store's own connection; one export at a time."""


def cursor(request: Request) -> duckdb.DuckDBPyConnection:
    store: Store = request.app.state.store
    return store.con.cursor()


def finding_filter(
    type: Annotated[str | None, Query(json_schema_extra={"enum": list(FINDING_TYPES)})] = None,
    severity: Annotated[
        str | None,
        Query(description="Minimum severity", json_schema_extra={"enum": list(SEVERITIES)}),
    ] = None,
    status: Annotated[str | None, Query(json_schema_extra={"enum": list(queries.STATUSES)})] = None,
    target: Annotated[str | None, Query(description="A watched target's name")] = None,
    actor: Annotated[str | None, Query(description="A knowledge-base actor id")] = None,
    source: Annotated[str | None, Query(description="A registry source key")] = None,
    country: Annotated[str | None, Query(description="Country of a source or target")] = None,
    lang: Annotated[str | None, Query(description="Language of an evidence item")] = None,
    q: Annotated[str | None, Query(description="Text in title or summary")] = None,
    since: Annotated[datetime | None, Query(description="Last seen on or after")] = None,
    until: Annotated[datetime | None, Query(description="First seen on or before")] = None,
) -> queries.FindingFilter:
    try:
        return queries.FindingFilter(type=type, severity=severity, status=status,
                                     target=target, actor=actor, source=source, country=country,
                                     lang=lang, q=q or None, since=since, until=until)  # fmt: skip
    except ValueError as error:
        raise HTTPException(422, str(error)) from error


Filter = Annotated[queries.FindingFilter, Depends(finding_filter)]


class WorkflowChange(BaseModel):
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["status"], "properties": {"status": {"type": "string"}}},
        {"required": ["tlp"], "properties": {"tlp": {"type": "string"}}},
    ]})  # fmt: skip
    status: str | None = Field(None, json_schema_extra={"enum": [*queries.STATUSES, None]})
    tlp: str | None = Field(None, json_schema_extra={"enum": [*TLP_LEVELS, None]})


class NewNote(BaseModel):
    text: str = Field(min_length=1, max_length=NOTE_CHARS)


def _check_tlp(tlp: str) -> None:
    if tlp not in TLP_LEVELS:
        raise HTTPException(422, f"tlp must be one of {', '.join(TLP_LEVELS)}")


def _not_found(kind: str, key: str) -> HTTPException:
    return HTTPException(404, f"no {kind} {key!r}")


@router.get("/overview", summary="Counts, newest findings and activity per week by type")
def overview(request: Request, _: User) -> dict[str, Any]:
    return queries.overview(cursor(request))


class FindingSummary(BaseModel):
    id: str
    type: str
    title: str
    summary: str
    score: float
    severity: str
    first_seen: datetime | None
    last_seen: datetime | None
    item_ids: list[str]
    account_ids: list[str]
    source_ids: list[str]
    targets: list[str]
    actors: list[str]
    disarm: list[str]
    attack: list[str]
    status: str = Field(json_schema_extra={"enum": list(queries.STATUSES)})
    tlp: str | None = Field(json_schema_extra={"enum": [*TLP_LEVELS, None]})
    langs: list[str] = Field(description="Languages of the evidence items")
    countries: list[str] = Field(description="Countries of their sources and of the targets")


class FindingPage(BaseModel):
    total: int = Field(description="Findings matching the filters, on all pages")
    limit: int
    offset: int
    findings: list[FindingSummary]


class Note(BaseModel):
    note_id: int
    author: str
    text: str
    created_at: datetime


class FindingDetail(FindingSummary):
    evidence: dict[str, Any] = Field(description="Type-specific, see the findings format")
    detector: str
    notes: list[Note]


class WorkflowState(BaseModel):
    finding_id: str
    status: str
    tlp: str | None
    updated_by: str


class NoteMade(Note):
    finding_id: str


class AuditEntry(BaseModel):
    audit_id: int
    at: datetime
    user: str
    action: str
    finding_id: str | None
    detail: dict[str, Any]


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get(
    "/findings",
    summary="Findings, filtered, sorted and paged",
    response_model=FindingPage,
    responses=_errors(422),
)
async def findings(
    request: Request,
    _: User,
    where: Filter,
    sort: Annotated[str, Query(json_schema_extra={"enum": list(queries.SORTS)})] = "score",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    if sort not in queries.SORTS:
        raise HTTPException(422, f"sort must be one of {', '.join(queries.SORTS)}")
    store: Store = request.app.state.store
    index = findings_index.fresh(store)
    if index is not None and where.q is None:  # all in memory: no need for a worker thread
        return _json(index.page(None, where, sort, limit, offset))
    return await run_in_threadpool(_findings_page, store, where, sort, limit, offset)


def _findings_page(
    store: Store, where: queries.FindingFilter, sort: str, limit: int, offset: int
) -> Response:
    return _json(findings_index.page_json(store, store.con.cursor(), where, sort, limit, offset))


@router.get(
    "/findings/{finding_id}",
    summary="One finding with its evidence and notes",
    response_model=FindingDetail,
    responses=_errors(404),
)
def finding(request: Request, finding_id: str, _: User) -> Response:
    con = cursor(request)
    index = findings_index.current(request.app.state.store, con)
    if index is None:
        found = queries.finding_detail(con, finding_id)
        body = findings_index.dumps(found) if found is not None else None
    else:
        body = index.detail(con, finding_id)
    if body is None:
        raise _not_found("finding", finding_id)
    return _json(body)


@router.patch(
    "/findings/{finding_id}",
    summary="Set a finding's status and/or TLP (analyst)",
    response_model=WorkflowState,
    responses=_errors(400, 403, 404, 422),
)
def change_finding(
    request: Request, finding_id: str, change: WorkflowChange, user: Analyst
) -> dict[str, Any]:
    if change.status is None and change.tlp is None:
        raise HTTPException(422, "give a status, a tlp or both")
    try:
        return set_status(cursor(request), finding_id, user.name, change.status, change.tlp)
    except WorkflowError as error:
        raise HTTPException(404 if "no finding" in str(error) else 422, str(error)) from error


@router.post(
    "/findings/{finding_id}/notes",
    status_code=201,
    summary="Add a note (analyst)",
    response_model=NoteMade,
    responses=_errors(400, 403, 404, 422),
)
def post_note(request: Request, finding_id: str, note: NewNote, user: Analyst) -> dict[str, Any]:
    try:
        return add_note(cursor(request), finding_id, user.name, note.text)
    except WorkflowError as error:
        raise HTTPException(404 if "no finding" in str(error) else 422, str(error)) from error


@router.get(
    "/audit",
    summary="The audit log of workflow changes, newest first",
    response_model=list[AuditEntry],
)
def audit(
    request: Request,
    _: User,
    finding_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> list[dict[str, Any]]:
    return audit_log(cursor(request), finding_id, limit)


@router.get("/alerts", summary="Alert rules and the delivery log, latest first")
def alerts(
    request: Request,
    user: User,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Rules' destinations (webhook URLs often hold secrets) are shown to admins only."""
    con = cursor(request)
    rules = list_rules(con)
    if not user.can("admin"):
        for rule in rules:
            rule["destination"] = None
    return {"rules": rules, "deliveries": list_deliveries(con, limit)}


@router.get("/items", summary="Items, searched and paged, newest first")
def items(
    request: Request,
    _: User,
    q: Annotated[str | None, Query(description="Text in title or body")] = None,
    platform: str | None = None,
    source: str | None = None,
    lang: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    return queries.list_items(cursor(request), q or None, platform, source, lang, limit, offset)


@router.get(
    "/items/{item_id:path}",
    summary="One item (its id may hold slashes)",
    responses=_errors(404),
)
def item(request: Request, item_id: str, _: User) -> dict[str, Any]:
    found = queries.item(cursor(request), item_id)
    if found is None:
        raise _not_found("item", item_id)
    return found


@router.get("/actors", summary="Threat actors of the knowledge base, with aliases")
def actors(request: Request, _: User, q: str | None = None) -> list[dict[str, Any]]:
    return queries.actors(cursor(request), q or None)


@router.get(
    "/actors/{actor_id}",
    summary="An actor: aliases, techniques, incidents, findings",
    responses=_errors(404),
)
def actor(request: Request, actor_id: str, _: User) -> dict[str, Any]:
    found = queries.actor(cursor(request), actor_id)
    if found is None:
        raise _not_found("actor", actor_id)
    return found


@router.get("/sources", summary="The source registry, with items held per source")
def sources(request: Request, _: User) -> list[dict[str, Any]]:
    return queries.sources(cursor(request))


@router.get("/targets", summary="The watchlist, with the findings that concern each entry")
def targets(request: Request, _: User) -> list[dict[str, Any]]:
    return queries.targets(cursor(request))


@router.get("/narratives", summary="Narratives with their item counts and findings")
def narratives(request: Request, _: User) -> list[dict[str, Any]]:
    return queries.narratives(cursor(request))


@router.post(
    "/triage/{kind}",
    summary="Triage an uploaded mail (.eml) or profile (JSON)",
    responses=_errors(400, 404, 413, 422),
)
async def triage(
    request: Request,
    kind: str,
    _: User,
    file: Annotated[UploadFile, File(description="The file to triage")],
) -> dict[str, Any]:
    if kind not in ("email", "profile"):
        raise _not_found("triage kind", kind)
    data = await file.read(UPLOAD_BYTES + 1)
    try:
        return triage_upload(kind, file.filename or "upload", data,
                             known_indicators(cursor(request)))  # fmt: skip
    except ValueError as error:
        raise HTTPException(413 if "larger" in str(error) else 422, str(error)) from error


@router.get(
    "/export/stix",
    summary="STIX 2.1 bundle of the knowledge base and findings",
    response_class=StixResponse,
    responses={200: {"content": {StixResponse.media_type: {"schema": _BUNDLE}}}, **_errors(422)},
)
def export_stix_bundle(
    request: Request,
    _: User,
    tlp: Tlp = "amber",
    since: datetime | None = None,
) -> Response:
    _check_tlp(tlp)
    with _export_lock, request.app.state.store.on_cursor() as reader:
        result = export_stix(reader, tlp, since)
    return StixResponse(
        serialize_bundle(result.bundle),
        headers={"Content-Disposition": 'attachment; filename="fimiwatch-stix.json"'},
    )


@router.get(
    "/export/findings.csv",
    summary="Findings matching the filters, as CSV",
    response_class=CsvResponse,
    responses=_errors(422),
)
def export_findings_csv(request: Request, _: User, where: Filter, tlp: Tlp = "amber") -> Response:
    _check_tlp(tlp)
    con = cursor(request)
    page = queries.list_findings(con, where, "score", EXPORT_ROWS, 0)
    withheld = withheld_unless_red(con) if tlp != "red" else set()
    return CsvResponse(
        exports.findings_csv(f for f in page["findings"] if f["id"] not in withheld),
        headers={"Content-Disposition": 'attachment; filename="fimiwatch-findings.csv"'},
    )


@router.get(
    "/export/network.gexf",
    summary="Coordinated accounts and their edges, as GEXF",
    response_class=GexfResponse,
    responses=_errors(404, 422),
)
def export_network(
    request: Request, _: User, finding_id: str | None = None, tlp: Tlp = "amber"
) -> Response:
    _check_tlp(tlp)
    con = cursor(request)
    found = queries.rows(
        con,
        "SELECT id, evidence FROM findings WHERE type = 'coordination' "
        "AND (? IS NULL OR id = ?) ORDER BY id",
        [finding_id, finding_id],
    )
    if finding_id and not found:
        raise _not_found("coordination finding", finding_id)
    withheld = withheld_unless_red(con) if tlp != "red" else set()
    found = [row for row in found if row["id"] not in withheld]
    for row in found:
        row["evidence"] = orjson.loads(row["evidence"]) if row["evidence"] else {}
    return GexfResponse(
        exports.gexf(exports.coordination_graph(found)),
        headers={"Content-Disposition": 'attachment; filename="fimiwatch-network.gexf"'},
    )
