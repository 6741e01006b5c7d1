"""The API's newer endpoints: workflow (status, TLP, notes, audit), overview, actors,
narratives, exports (CSV, GEXF, STIX), mail triage uploads, and the status/country/lang
filters."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fimiwatch.runner import save_findings
from fimiwatch.store import Store
from fimiwatch.web.app import create_app
from fimiwatch.web.triage import UPLOAD_BYTES
from fimiwatch.web.users import add_user
from tests.conftest import post
from tests.test_api import finding
from tests.test_mentions import ingest

ROOT = Path(__file__).resolve().parents[1]
MAIL = ROOT / "data" / "demo" / "mail" / "03-lookalike-domain-verify-account.eml"


class Api:
    """A test client with the tokens of a viewer and an analyst."""

    def __init__(self, client: TestClient, viewer: str, analyst: str) -> None:
        self.client = client
        self.viewer = {"Authorization": f"Bearer {viewer}"}
        self.analyst = {"Authorization": f"Bearer {analyst}"}

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=self.viewer)
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def api(store: Store, tmp_path: Path) -> Iterator[Api]:
    store.con.execute(
        "INSERT INTO sources (source, name, country, language, affiliation) VALUES "
        "('cri-cz', 'CRI Czech', 'CN', 'cs', 'state_media'), "
        "('rt-de', 'RT DE', 'RU', 'de', 'state_media')"
    )
    ingest(store, tmp_path, [
        post(1, id="i1", text="Klára Menšíková je trojský kůň CIA.", lang="cs", source="cri-cz"),
        post(2, id="i2", text="Die Wahrheit über Biolabore.", lang="de", source="rt-de"),
        post(3, id="i3", text="weather today", lang="en"),
    ])  # fmt: skip
    store.con.execute(
        "INSERT INTO watchlist (kind, name, country) VALUES ('person', 'Klára Menšíková', 'CZ')"
    )
    store.con.execute(
        "INSERT INTO kb_actors (actor_id, name, kind, country, techniques) VALUES "
        "('apt28', 'APT28', 'threat-actor', 'RU', ['T1566'])"
    )
    store.con.execute("INSERT INTO kb_aliases VALUES ('Fancy Bear', 'fancybear', 'apt28', 't')")
    store.con.execute(
        "INSERT INTO kb_techniques (technique_id, framework, name) "
        "VALUES ('T1566', 'attack', 'Phishing')"
    )
    save_findings(store, "phishing", [
        finding(1, title="=HYPERLINK(\"http://evil.example\")"),
        finding(2, actors=("apt28",)),
    ])  # fmt: skip
    save_findings(store, "targeting", [finding(
        100, "targeting", targets=("Klára Menšíková",), item_ids=("i1",), source_ids=("cri-cz",),
    )])  # fmt: skip
    save_findings(store, "coordination", [finding(
        200, "coordination", account_ids=("a1", "a2", "a3"), item_ids=("i2", "i3"),
        evidence={"network_types": ["co_retweet"], "window_seconds": 60,
                  "edges": [["a1", "a2", "co_retweet", 3], ["a2", "a3", "co_retweet", 2]]},
    )])  # fmt: skip
    save_findings(store, "narratives", [finding(
        300, "narrative", item_ids=("i2",), evidence={"narrative": "biolabs"},
    )])  # fmt: skip
    store.con.execute(
        "INSERT INTO narrative_items VALUES ('biolabs', 'defined', 'US biolabs', 'i2', 0.9)"
    )
    viewer, analyst = add_user(store, "vera", "viewer"), add_user(store, "ana", "analyst")
    with TestClient(create_app(store)) as client:
        yield Api(client, viewer, analyst)


def test_status_and_tlp_need_an_analyst_and_are_audited(api: Api) -> None:
    change = {"status": "confirmed", "tlp": "amber"}
    denied = api.client.patch("/api/findings/f100", json=change, headers=api.viewer)
    assert denied.status_code == 403
    made = api.client.patch("/api/findings/f100", json=change, headers=api.analyst)
    assert made.status_code == 200, made.text
    assert made.json() == {"finding_id": "f100", "status": "confirmed", "tlp": "amber",
                           "updated_by": "ana"}  # fmt: skip
    detail = api.get("/api/findings/f100").json()
    assert (detail["status"], detail["tlp"]) == ("confirmed", "amber")
    # TLP alone keeps the status; spellings of TLP are normalised
    made = api.client.patch("/api/findings/f100", json={"tlp": "TLP:RED"}, headers=api.analyst)
    assert made.json()["status"] == "confirmed" and made.json()["tlp"] == "red"
    (latest, first) = api.get("/api/audit", finding_id="f100").json()
    assert latest["user"] == "ana" and latest["action"] == "status"
    assert first["detail"] == {"from": {"status": "new", "tlp": None},
                               "to": {"status": "confirmed", "tlp": "amber"}}  # fmt: skip
    assert latest["detail"]["to"] == {"status": "confirmed", "tlp": "red"}
    assert api.get("/api/audit", finding_id="f001").json() == []


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/findings/f100", {"status": "maybe"}, 422),
        ("/api/findings/f100", {"tlp": "purple"}, 422),
        ("/api/findings/f100", {}, 422),
        ("/api/findings/nope", {"status": "confirmed"}, 404),
    ],
)
def test_bad_workflow_changes_are_refused(
    api: Api, path: str, body: dict[str, str], status: int
) -> None:
    assert api.client.patch(path, json=body, headers=api.analyst).status_code == status
    assert api.get("/api/audit").json() == []


def test_notes(api: Api) -> None:
    note = {"text": "  seen on <b>three</b> channels  "}
    assert api.client.post("/api/findings/f100/notes", json=note,
                           headers=api.viewer).status_code == 403  # fmt: skip
    made = api.client.post("/api/findings/f100/notes", json=note, headers=api.analyst)
    assert made.status_code == 201 and made.json()["text"] == "seen on <b>three</b> channels"
    assert made.json()["author"] == "ana"
    (shown,) = api.get("/api/findings/f100").json()["notes"]
    assert shown["note_id"] == made.json()["note_id"]
    (entry,) = api.get("/api/audit").json()
    assert entry["action"] == "note" and entry["detail"] == {"note_id": shown["note_id"]}
    for text, status in (("", 422), ("   ", 422), ("x" * 10_001, 422)):
        refused = api.client.post("/api/findings/f100/notes", json={"text": text},
                                  headers=api.analyst)  # fmt: skip
        assert refused.status_code == status
    missing = api.client.post("/api/findings/nope/notes", json=note, headers=api.analyst)
    assert missing.status_code == 404


def test_overview_actor_and_narratives(api: Api) -> None:
    overview = api.get("/api/overview").json()
    assert overview["stored"]["findings"] == 5 and overview["stored"]["items"] == 3
    assert overview["by_type"] == {"coordination": 1, "narrative": 1, "phishing": 2,
                                   "targeting": 1}  # fmt: skip
    assert overview["by_status"] == {"new": 5} and len(overview["newest"]) == 5
    assert {row["type"] for row in overview["activity"]} == set(overview["by_type"])
    actor = api.get("/api/actors/apt28").json()
    assert actor["aliases"] == ["Fancy Bear"] and actor["findings"] == 1
    assert actor["technique_names"] == [{"technique_id": "T1566", "name": "Phishing"}]
    assert [f["id"] for f in actor["linked_findings"]] == ["f002"]
    assert api.client.get("/api/actors/nope", headers=api.viewer).status_code == 404
    (narrative,) = api.get("/api/narratives").json()
    assert narrative["narrative"] == "biolabs" and narrative["items"] == 1
    assert narrative["finding_id"] == "f300"


def test_filters_by_status_country_and_language(api: Api) -> None:
    def ids(**params: Any) -> set[str]:
        return {f["id"] for f in api.get("/api/findings", **params).json()["findings"]}

    assert ids(country="CN") == {"f100"}
    assert ids(country="CZ") == {"f100"}  # the watched target's country
    assert ids(country="RU") == {"f200", "f300"}
    assert ids(lang="de") == {"f200", "f300"} and ids(lang="cs") == {"f100"}
    assert ids(status="new") == {"f001", "f002", "f100", "f200", "f300"}
    api.client.patch("/api/findings/f200", json={"status": "dismissed"}, headers=api.analyst)
    assert ids(status="dismissed") == {"f200"} and "f200" not in ids(status="new")
    assert ids(status="dismissed", lang="en") == {"f200"}
    assert ids(status="confirmed") == set()
    page = api.get("/api/findings", lang="de").json()
    shown = {f["id"]: f for f in page["findings"]}
    assert shown["f200"]["langs"] == ["de", "en"] and shown["f200"]["countries"] == ["RU"]
    assert shown["f200"]["status"] == "dismissed"
    bad = api.client.get("/api/findings", params={"status": "open"}, headers=api.viewer)
    assert bad.status_code == 422


def test_findings_csv_defuses_formulas(api: Api) -> None:
    response = api.get("/api/export/findings.csv", type="phishing")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in rows] == ["f002", "f001"]  # score order
    assert rows[1]["title"] == '\'=HYPERLINK("http://evil.example")'
    assert rows[0]["actors"] == "apt28"


def test_network_gexf(api: Api) -> None:
    response = api.get("/api/export/network.gexf")
    assert response.headers["content-type"].startswith("application/gexf+xml")
    root = ET.fromstring(response.content)
    names = {e.get("id") for e in root.iter() if e.tag.endswith("}node")}
    edges = [e for e in root.iter() if e.tag.endswith("}edge")]
    assert names == {"a1", "a2", "a3"} and len(edges) == 2
    assert api.get("/api/export/network.gexf", finding_id="f200").content == response.content
    missing = api.client.get("/api/export/network.gexf", params={"finding_id": "f001"},
                             headers=api.viewer)  # fmt: skip
    assert missing.status_code == 404


def test_stix_withholds_a_finding_an_analyst_marked_red(api: Api) -> None:
    before = api.get("/api/export/stix").text
    assert "f100" in before and "f002" in before
    api.client.patch("/api/findings/f100", json={"tlp": "red"}, headers=api.analyst)
    response = api.get("/api/export/stix", tlp="amber")
    assert response.headers["content-type"].startswith("application/stix+json")
    bundle = response.json()
    assert bundle["type"] == "bundle" and "f100" not in response.text and "f002" in response.text
    assert "f100" in api.get("/api/export/stix", tlp="red").text
    bad = api.client.get("/api/export/stix", params={"tlp": "purple"}, headers=api.viewer)
    assert bad.status_code == 422


def test_csv_and_gexf_leave_out_red_findings_unless_asked_for_red(api: Api) -> None:
    for finding_id in ("f001", "f200"):
        changed = api.client.patch(f"/api/findings/{finding_id}", json={"tlp": "red"},
                                   headers=api.analyst)  # fmt: skip
        assert changed.status_code == 200
    ids = [row["id"] for row in csv.DictReader(io.StringIO(
        api.get("/api/export/findings.csv", type="phishing").text))]  # fmt: skip
    assert ids == ["f002"]
    red = csv.DictReader(io.StringIO(api.get("/api/export/findings.csv", tlp="red").text))
    assert {"f001", "f200"} <= {row["id"] for row in red}
    assert b"a1" not in api.get("/api/export/network.gexf").content
    assert b"a1" in api.get("/api/export/network.gexf", tlp="red").content
    bad = api.client.get("/api/export/findings.csv", params={"tlp": "x"}, headers=api.viewer)
    assert bad.status_code == 422


def test_alerts_hide_destinations_from_all_but_admins(api: Api, store: Store) -> None:
    from fimiwatch.alerts import Rule, add_rule

    add_rule(store, Rule(name="hook", channel="webhook",
                         destination="https://hooks.example/secret-token"))  # fmt: skip
    seen = api.get("/api/alerts").json()
    assert [r["name"] for r in seen["rules"]] == ["hook"] and seen["rules"][0][
        "destination"
    ] is None
    admin = {"Authorization": f"Bearer {add_user(store, 'root', 'admin')}"}
    shown = api.client.get("/api/alerts", headers=admin).json()
    assert shown["rules"][0]["destination"] == "https://hooks.example/secret-token"
    assert shown["deliveries"] == []  # a new rule alerts only on findings made after it


def test_triage_email_upload(api: Api) -> None:
    upload = {"file": ("verify.eml", MAIL.read_bytes(), "message/rfc822")}
    response = api.client.post("/api/triage/email", files=upload, headers=api.viewer)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["kind"] == "email" and result["file"] == "verify.eml"
    (verdict,) = result["verdicts"]
    assert verdict["verdict"] in ("malicious", "suspicious") and verdict["indicators"]
    assert 0 <= verdict["score"] <= 1
    big = {"file": ("big.eml", b"x" * (UPLOAD_BYTES + 1), "message/rfc822")}
    assert api.client.post("/api/triage/email", files=big, headers=api.viewer).status_code == 413
    huge = {"file": ("huge.eml", b"x" * (UPLOAD_BYTES * 3), "message/rfc822")}
    refused = api.client.post("/api/triage/email", files=huge, headers=api.viewer)
    # refused by the body limit, before the multipart parser spools it: not the handler's JSON
    assert refused.status_code == 413 and "larger than" not in refused.text
    empty = {"file": ("empty.eml", b"", "message/rfc822")}
    assert api.client.post("/api/triage/email", files=empty, headers=api.viewer).status_code == 422
    assert api.client.post("/api/triage/fax", files=upload, headers=api.viewer).status_code == 404
    assert api.client.post("/api/triage/email", files=upload).status_code == 401
