"""The API's in-memory findings index answers exactly as the SQL the pages use
(``queries.list_findings``, ``queries.finding_detail``) and is rebuilt after every change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from fimiwatch.findings import FINDING_TYPES, SEVERITIES, Finding
from fimiwatch.runner import save_findings
from fimiwatch.store import Store, data_generation
from fimiwatch.web import findings_index, queries
from fimiwatch.web.app import create_app
from fimiwatch.web.users import add_user, remove_user
from fimiwatch.web.workflow import add_note, set_status
from tests.conftest import post
from tests.test_mentions import ingest

TARGETS = ("Klára Menšíková", "European Parliament", "nobody")
ACTORS = ("apt28", "apt1", "none")
SOURCES = ("cri-cz", "rt-de", "nowhere")
START = datetime(2024, 5, 1, tzinfo=UTC)
PYDANTIC = TypeAdapter(dict[str, Any])
"""How FastAPI wrote these dicts before the index (times with ``Z``)."""


def _finding(number: int) -> Finding:
    score = [0.1, 0.5, 0.5, 0.75, 0.95, 0.3][number % 6]  # ties, broken by id
    seen = None if number % 7 == 0 else START + timedelta(hours=5 * number)
    return Finding(
        id=f"f{(number * 37) % 101:03d}-{number}", type=FINDING_TYPES[number % 6],
        title=f"finding {number}" + (" 50% off_sale" if number % 5 == 0 else ""),
        summary="Trojan horse" if number % 4 == 0 else "ordinary", score=score,
        severity=SEVERITIES[(number // 2) % 4], first_seen=seen,
        last_seen=None if number % 9 == 0 else (seen or START) + timedelta(hours=number % 3),
        item_ids=tuple(["i1", "i2", "i3"][: number % 4]),
        targets=tuple(TARGETS[: number % 3]), actors=(ACTORS[number % 2],) * (number % 2),
        source_ids=tuple(SOURCES[number % 2 : 2]),
        evidence={"n": number, "nested": {"list": [1, 2.5, None, "x"]}},
    )  # fmt: skip


@pytest.fixture
def indexed(store: Store, tmp_path: Path) -> Store:
    store.con.execute(
        "INSERT INTO sources (source, country) VALUES ('cri-cz', 'CN'), ('rt-de', 'RU')"
    )
    ingest(store, tmp_path, [post(1, id="i1", lang="cs", source="cri-cz"),
                             post(2, id="i2", lang="de", source="rt-de"),
                             post(3, id="i3", lang="en")])  # fmt: skip
    store.con.execute(
        "INSERT INTO watchlist (kind, name, country) VALUES ('person', 'Klára Menšíková', 'CZ')"
    )
    save_findings(store, "a", [_finding(n) for n in range(0, 40)])
    save_findings(store, "b", [_finding(n) for n in range(40, 61)])
    con = store.con.cursor()
    ids = [row[0] for row in con.execute("SELECT id FROM findings ORDER BY id").fetchall()]
    for number, finding_id in enumerate(ids[::3]):
        set_status(con, finding_id, "ana", ("confirmed", "dismissed", "new")[number % 3],
                   ("red", None, "amber")[number % 3])  # fmt: skip
    for finding_id in ids[::5]:
        add_note(con, finding_id, "ana", f"note on {finding_id}")
        add_note(con, finding_id, "bob", "<b>second</b>")
    return store


times = st.one_of(
    st.datetimes(datetime(2024, 4, 25), datetime(2024, 5, 20)),  # naive: read as UTC
    st.datetimes(datetime(2024, 4, 25), datetime(2024, 5, 20),
                 timezones=st.just(timezone(timedelta(hours=2)))),
)  # fmt: skip
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(FINDING_TYPES),
    "severity": st.sampled_from(SEVERITIES),
    "status": st.sampled_from(queries.STATUSES),
    "target": st.sampled_from(TARGETS),
    "actor": st.sampled_from(ACTORS),
    "source": st.sampled_from(SOURCES),
    "country": st.sampled_from(("CN", "RU", "CZ", "FR")),
    "lang": st.sampled_from(("cs", "de", "en", "fr")),
    "q": st.sampled_from(("trojan", "50%", "off_s", "_", "FINDING 1", "zz")),
    "since": times,
    "until": times,
}
# up to three filters at a time, so that pages are seldom empty
filters = (
    st.lists(st.sampled_from(sorted(VALUES)), max_size=3, unique=True)
    .flatmap(lambda names: st.fixed_dictionaries({name: VALUES[name] for name in names}))
    .map(lambda chosen: queries.FindingFilter(**chosen))
)


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    where=filters,
    sort=st.sampled_from(list(queries.SORTS)),
    limit=st.sampled_from((1, 7, 50)),
    offset=st.sampled_from((0, 3, 20, 100)),
)
def test_pages_equal_the_sql_ones(
    indexed: Store, where: queries.FindingFilter, sort: str, limit: int, offset: int
) -> None:
    con = indexed.con.cursor()
    index = findings_index.current(indexed, con)
    assert index is not None
    expected = orjson.loads(
        PYDANTIC.dump_json(queries.list_findings(con, where, sort, limit, offset))
    )
    assert orjson.loads(index.page(con, where, sort, limit, offset)) == expected


def test_details_equal_the_sql_ones(indexed: Store) -> None:
    con = indexed.con.cursor()
    index = findings_index.current(indexed, con)
    assert index is not None and len(index.ids) == 61
    for finding_id in [*index.ids, "nope"]:
        sql = queries.finding_detail(con, finding_id)
        body = index.detail(con, finding_id)
        if sql is None:
            assert body is None
            continue
        assert body is not None and orjson.loads(body) == orjson.loads(PYDANTIC.dump_json(sql))
    assert sum(bool(orjson.loads(index.detail(con, f) or b"{}")["notes"]) for f in index.ids) == 13


def test_every_change_rebuilds_the_index(indexed: Store) -> None:
    con = indexed.con.cursor()
    first = findings_index.current(indexed, con)
    assert first is not None and findings_index.current(indexed, con) is first  # kept
    target = first.ids[1]
    before = data_generation()
    set_status(con, target, "ana", "dismissed")
    assert data_generation() != before and findings_index.fresh(indexed) is None
    shown = orjson.loads(findings_index.current(indexed, con).page(  # type: ignore[union-attr]
        con, queries.FindingFilter(status="dismissed"), "score", 100, 0))  # fmt: skip
    assert target in {f["id"] for f in shown["findings"]}
    add_note(con, target, "ana", "fresh note")
    detail = findings_index.current(indexed, con).detail(con, target)  # type: ignore[union-attr]
    assert detail is not None and orjson.loads(detail)["notes"][-1]["text"] == "fresh note"
    save_findings(indexed, "b", [])
    after = findings_index.current(indexed, con)
    assert after is not None and len(after.ids) == 40


@pytest.fixture
def api(indexed: Store) -> Iterator[tuple[TestClient, dict[str, str]]]:
    token = add_user(indexed, "ana", "analyst")
    with TestClient(create_app(indexed)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def test_api_reads_its_own_writes(indexed: Store, api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    page = client.get("/api/findings", params={"status": "confirmed"}, headers=auth).json()
    target = next(f["id"] for f in client.get("/api/findings", headers=auth).json()["findings"]
                  if f["status"] == "new")  # fmt: skip
    assert target not in {f["id"] for f in page["findings"]}
    made = client.patch(f"/api/findings/{target}", json={"status": "confirmed"}, headers=auth)
    assert made.status_code == 200
    page = client.get("/api/findings", params={"status": "confirmed"}, headers=auth).json()
    assert target in {f["id"] for f in page["findings"]}
    client.post(f"/api/findings/{target}/notes", json={"text": "look"}, headers=auth)
    assert client.get(f"/api/findings/{target}", headers=auth).json()["notes"][-1]["text"] == (
        "look"
    )
    # a text search goes to DuckDB, with ILIKE's wildcards
    found = client.get("/api/findings", params={"q": "FINDING_1", "limit": 100},
                       headers=auth).json()  # fmt: skip
    assert found["total"] == 11 and all(f["title"].startswith("finding 1")
                                        for f in found["findings"])  # fmt: skip
    # a removed user's token stops working at once, though valid tokens are remembered
    assert remove_user(indexed, "ana")
    assert client.get("/api/findings", headers=auth).status_code == 401


def test_too_many_findings_read_through_sql(
    indexed: Store, api: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, auth = api
    monkeypatch.setattr(findings_index, "MAX_FINDINGS", 10)
    set_status(indexed.con.cursor(), "f000-0", "ana", "confirmed")  # a change: index dropped
    assert findings_index.current(indexed, indexed.con.cursor()) is None
    page = client.get("/api/findings", params={"limit": 5, "sort": "newest"}, headers=auth)
    con = indexed.con.cursor()
    expected = queries.list_findings(con, queries.FindingFilter(), "newest", 5, 0)
    assert page.json() == orjson.loads(PYDANTIC.dump_json(expected))
    detail = client.get("/api/findings/f000-0", headers=auth).json()
    assert detail["status"] == "confirmed" and detail["evidence"]["n"] == 0
