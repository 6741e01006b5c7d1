"""OpenAPI-driven tests (schemathesis): every ``/api`` operation is called with requests
generated from the app's own ``/openapi.json`` — valid ones and invalid ones — as an analyst,
over a small store holding findings of several types, and each response is checked: no server
error, a documented status code and content type, a body matching the documented schema,
invalid input rejected, valid input accepted, and a request without a token refused.

Deterministic (derandomized Hypothesis, no example database) and bounded in time. Each
operation is its own test, driving ``operation.as_strategy()`` with Hypothesis directly:
schemathesis' own ``from_fixture(...).parametrize()`` sets ``Function._nodeid``, which pytest 9
no longer has.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from fimiwatch.runner import save_findings
from fimiwatch.store import Store
from fimiwatch.web import api
from fimiwatch.web.app import create_app
from fimiwatch.web.users import add_user
from fimiwatch.web.workflow import add_note, set_status
from tests.conftest import post
from tests.test_api import finding
from tests.test_mentions import ingest

FINDING_IDS = ("f001", "f002", "f100", "f200", "f300", "f400")
ITEM_IDS = ("i1", "i2", "i3")
ACTOR_IDS = ("apt28", "apt1")
KB_SQL = """
INSERT INTO kb_actors (actor_id, name, kind, country, sponsor, techniques) VALUES
    ('apt28', 'APT28', 'threat-actor', 'RU', 'GRU', ['T1566']),
    ('apt1', 'APT1', 'threat-actor', 'CN', NULL, []);
INSERT INTO kb_aliases VALUES ('Fancy Bear', 'fancybear', 'apt28', 'test'),
    ('Comment Crew', 'commentcrew', 'apt1', 'test');
INSERT INTO kb_techniques VALUES ('T1566', 'attack', 'Phishing', ['initial-access'], NULL, NULL);
INSERT INTO kb_incidents (incident_id, title, date_start, actors, attribution, summary) VALUES
    ('inc-1', 'Bundestag hack', DATE '2015-05-01', ['apt28'], 'official', 'Mail accounts');
"""


@pytest.fixture(scope="module")
def analyst_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str]]:
    """A small knowledge base, three items, a watched person and findings of five types,
    one of them confirmed and marked TLP red, with a note; and an analyst's token."""
    tmp_path = tmp_path_factory.mktemp("api-schema")
    with Store(tmp_path / "api.duckdb") as store:
        store.con.execute(KB_SQL)
        ingest(store, tmp_path, [
            post(1, id="i1", text="Klára Menšíková je trojský kůň CIA.", lang="cs"),
            post(2, id="i2", text="weather today", lang="en"),
            post(3, id="i3", text="=HYPERLINK(\"http://x\")", lang="de"),
        ])  # fmt: skip
        store.con.execute(
            "INSERT INTO watchlist (kind, name, country) VALUES ('person', 'Klára Menšíková', 'CZ')"
        )
        save_findings(store, "phishing", [finding(1), finding(2)])
        save_findings(store, "targeting", [finding(
            100, "targeting", targets=("Klára Menšíková",), item_ids=("i1",), actors=("apt28",),
        )])  # fmt: skip
        save_findings(store, "coordination", [finding(
            200, "coordination", account_ids=("a1", "a2", "a3"), item_ids=("i1", "i2"),
            evidence={"network_types": ["co_retweet"], "window_seconds": 60,
                      "edges": [["a1", "a2", "co_retweet", 3], ["a2", "a3", "co_retweet", 2]]},
        )])  # fmt: skip
        save_findings(store, "laundering", [finding(
            300, "laundering", item_ids=("i2", "i3"), title="=cmd|' /C calc'!A0",
            evidence={"pairs": [{"origin_id": "i2", "copy_id": "i3", "similarity": 0.93,
                                 "lag_seconds": 3600, "attributed": False,
                                 "origin_lang": "en", "copy_lang": "de"}]},
        )])  # fmt: skip
        save_findings(store, "narratives", [finding(
            400, "narrative", item_ids=("i1", "i2"), evidence={"narrative": "bioweapons"},
        )])  # fmt: skip
        store.con.execute(
            "INSERT INTO narrative_items VALUES ('bioweapons', 'defined', 'US biolabs', 'i1', 0.8),"
            " ('bioweapons', 'defined', 'US biolabs', 'i2', 0.6)"
        )
        set_status(store.con, "f100", "ana", "confirmed", "red")
        add_note(store.con, "f100", "ana", "seen on <b>three</b> channels")
        yield store, add_user(store, "ana", "analyst")


@pytest.fixture(scope="module")
def schemas(analyst_store: tuple[Store, str]) -> dict[GenerationMode, Any]:
    """The app's schema twice: for valid requests, whose path parameters are drawn from the
    store half of the time (so detail and workflow operations reach real findings, items and
    actors, not only 404s), and for invalid ones."""
    store, _ = analyst_store
    app = create_app(store)
    loaded = {}
    for mode, hook in ((GenerationMode.POSITIVE, flatmap_path_parameters),
                       (GenerationMode.NEGATIVE, filter_query)):  # fmt: skip
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        # like most HTTP APIs, this one ignores query parameters it does not know
        schema.config.generation.update(allow_extra_parameters=False)
        schema.hook(hook)
        loaded[mode] = schema
    return loaded


def flatmap_path_parameters(
    context: Any, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    known = {"finding_id": FINDING_IDS, "item_id": ITEM_IDS, "actor_id": ACTOR_IDS,
             "kind": ("email", "profile")}  # fmt: skip
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries({
        name: st.sampled_from([value, *known[name]]) if name in known else st.just(value)
        for name, value in path_parameters.items()
    })  # fmt: skip


def filter_query(context: Any, query: dict[str, Any] | None) -> bool:
    """Keep out of the invalid requests two that a query string cannot tell from valid ones:
    a repeated parameter or an object (``?q=a&q=b``: Starlette reads the last, as frameworks
    commonly do) and a number for a time (``?since=142``: pydantic reads digits as Unix epoch
    seconds)."""
    return not any(
        isinstance(value, list | dict)
        or (name in ("since", "until") and not isinstance(value, str))
        for name, value in (query or {}).items()
    )


OPERATIONS = sorted(
    (method, route.path_format)
    for route in api.router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms_to_its_schema(
    schemas: dict[GenerationMode, Any], analyst_store: tuple[Store, str], method: str,
    path: str, mode: GenerationMode,
) -> None:  # fmt: skip
    _, token = analyst_store
    operation = schemas[mode][path][method]
    # an upload the schema allows (any bytes) may still be no mail or profile at all: 422
    excluded = [positive_data_acceptance] if path.startswith("/api/triage/") else []

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=20,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                               excluded_checks=excluded)  # fmt: skip

    check()
