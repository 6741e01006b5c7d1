"""STIX 2.1 exchange: export (OASIS-valid, MISP-convertible, deterministic, TLP-marked), import
(merge by alias, hostile input) and the round trip between two stores."""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import stix2
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2validator import validate_string
from typer.testing import CliRunner

from fimiwatch.cli_stix import export_app, import_app
from fimiwatch.config import IngestSettings, Settings
from fimiwatch.ingest.base import ReadError
from fimiwatch.intel.keys import alias_key
from fimiwatch.intel.stix_export import (
    EXTENSION_ID,
    TLP2_MARKING_IDS,
    TLP_LEVELS,
    export_stix,
    parse_tlp,
    stix_id,
    stricter,
    write_bundle,
)
from fimiwatch.intel.stix_import import ImportSummary, import_bundle
from fimiwatch.store import Store

# ----------------------------------------------------------------------------------------------
# A small knowledge base and findings, inserted by hand (per the migration-2 schema).


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


SOURCES = [
    ["cgtn", "CGTN", "cgtn.com", "web", "CN", "en", "state_media", "CN", "CCTV"],
    ["embassy-cz", "Chinese Embassy in Prague", "cz.china-embassy.gov.cn", "web", "CZ", "cs",
     "diplomat", "CN", None],
    ["prvnizpravy", "První zprávy", "prvnizpravy.cz", "web", "CZ", "cs", "unknown", None, None],
    ["seznam", "Seznam Zprávy", "seznamzpravy.cz", "web", "CZ", "cs", "independent", None, None],
]  # fmt: skip
ITEMS = [
    ("cgtn-1", "cgtn", "web", "2024-05-01T08:00:00Z", "Article", "cgtn", "CGTN",
     "https://www.cgtn.com/news/2024-05-01/a.html"),
    ("pz-1", "prvnizpravy", "web", "2024-05-01T20:00:00Z", "Článek", None, None,
     "https://prvnizpravy.cz/clanek-1"),
    ("t1", None, "twitter", "2024-05-02T10:00:00Z", None, "a1", "user1", None),
    ("t2", None, "twitter", "2024-05-02T10:00:20Z", None, "a2", "user2", None),
    ("t3", None, "twitter", "2024-05-02T10:00:40Z", None, "a3", "user3",
     "https://twitter.com/user3/status/3"),
    ("mail-1", None, "email", "2024-05-03T07:30:00Z", "Interview request",
     "press@europarl-europa.eu", "Anna Reporter", None),
]  # fmt: skip
ACTORS = [
    ["apt31", "APT31", "threat-actor", "CN", "Ministry of State Security", "G0128",
     "Chinese state-sponsored cyber espionage group.", ["T1566.001"], [],
     ["https://attack.mitre.org/groups/G0128/", "US DoJ indictment, March 2024"],
     ["misp-galaxy:threat-actor:APT31", "attack:APT31"], "mss"],
    ["mss", "Ministry of State Security", "state-body", "CN", None, None,
     "PRC civilian intelligence.", [], [], [], ["curated"], None],
    ["spamouflage", "Spamouflage", "influence-operation", "CN", "Ministry of Public Security",
     None, "Cross-platform influence operation.", [], ["T0049"], [], ["misp-galaxy"], None],
]  # fmt: skip
ALIASES = {
    "apt31": ["APT31", "Zirconium", "Judgment Panda", "Violet Typhoon"],
    "mss": ["Ministry of State Security", "MSS"],
    "spamouflage": ["Spamouflage", "Dragonbridge", "Spamouflage Dragon"],
}
TECHNIQUES = [
    ["T1566.001", "attack", "Spearphishing Attachment", ["initial-access"],
     "Adversaries may send spearphishing emails with a malicious attachment.",
     "https://attack.mitre.org/techniques/T1566/001/"],
    ["T0049", "disarm", "Flooding the Information Space", ["TA17 Maximise Exposure"],
     "Flood the information space.", None],
    ["T1598", "attack", "Phishing for Information", ["reconnaissance"], None, None],
    ["T1059", "attack", "Command and Scripting Interpreter", ["execution"], None, None],
]  # fmt: skip
INCIDENT_TITLE = "APT31 tracking-pixel campaign against IPAC members"
INCIDENT = [
    "apt31-ipac-2021", INCIDENT_TITLE, "2021-01-01",
    "2021-06-30", ["CZ", "BE", "GB"], ["apt31"], "official", "US DoJ", ["T1566.001", "T1598"],
    "Emails with tracking links sent to parliamentarians.", ["https://www.justice.gov/opa/pr/x"],
]  # fmt: skip
FINDINGS: list[dict[str, Any]] = [
    {
        "id": "laundering-0001", "type": "laundering",
        "title": "CGTN article laundered by prvnizpravy.cz",
        "summary": "Czech copy of a CGTN article without attribution.", "score": 0.82,
        "severity": "high", "first_seen": "2024-05-01T08:00:00Z",
        "last_seen": "2024-05-01T20:00:00Z", "item_ids": ["cgtn-1", "pz-1"], "account_ids": [],
        "source_ids": ["cgtn", "prvnizpravy"], "targets": ["CZ"], "actors": [],
        "disarm": ["T0049"], "attack": [],
        "evidence": {"pairs": [{"origin_id": "cgtn-1", "copy_id": "pz-1", "similarity": 0.91,
                                "lag_seconds": 43200, "attributed": False, "origin_lang": "en",
                                "copy_lang": "cs"}]},
    },
    {
        "id": "coordination-0001", "type": "coordination", "title": "Three accounts co-posting",
        "summary": "a1, a2, a3 posted the same text within 40 s.", "score": 0.66,
        "severity": "medium", "first_seen": "2024-05-02T10:00:00Z",
        "last_seen": "2024-05-02T10:00:40Z", "item_ids": ["t1", "t2", "t3"],
        "account_ids": ["a1", "a2", "a3"], "source_ids": [], "targets": [],
        "actors": ["Dragonbridge"], "disarm": ["T0049"], "attack": [],
        "evidence": {"network_types": ["co-post"], "window_seconds": 60,
                     "edges": [["a1", "a2", "co-post", 1], ["a2", "a3", "co-post", 1]],
                     "tlp": "green"},
    },
    {
        "id": "phishing-0001", "type": "phishing",
        "title": "Lookalike-domain interview request to an MP",
        "summary": "Journalist impersonation from europarl-europa.eu with a tracking pixel.",
        "score": 0.95, "severity": "critical", "first_seen": "2024-05-03T07:30:00Z",
        "last_seen": "2024-05-03T07:30:00Z", "item_ids": ["mail-1"],
        "account_ids": ["press@europarl-europa.eu"], "source_ids": [], "targets": ["Jan Novák"],
        "actors": ["APT31"], "disarm": [], "attack": ["T1566.001", "T1598"],
        "evidence": {"lookalike_domains": ["europarl-europa.eu"],
                     "impersonated_domain": "europarl.europa.eu",
                     "tracking_pixels": ["https://europarl-europa.eu/px.gif?id=it's"],
                     "tlp": "amber+strict"},
    },
    {
        "id": "recruitment-0001", "type": "recruitment", "title": "Headhunter approach",
        "summary": "Restricted case.", "score": 0.7, "severity": "high",
        "first_seen": "2024-05-04T07:30:00Z", "last_seen": "2024-05-04T07:30:00Z",
        "item_ids": [], "account_ids": [], "source_ids": [], "targets": ["Jan Novák"],
        "actors": ["MSS"], "disarm": [], "attack": [], "evidence": {"tlp": "red"},
    },
]  # fmt: skip


def populate(store: Store) -> None:
    con = store.con
    con.executemany("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'test')", SOURCES)
    con.executemany(
        "INSERT INTO items (id, source, platform, published_at, title, account_id, "
        "account_name, url, text, content_hash, ingest_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
        "'text', ?, 1)",
        [[*row[:3], _dt(row[3]), *row[4:], f"h{i}"] for i, row in enumerate(ITEMS)],
    )
    first, last = _dt("2024-05-02T10:00:00Z"), _dt("2024-05-02T10:00:40Z")
    con.executemany(
        "INSERT INTO accounts VALUES (?, ?, ?, NULL, ?, ?, 1)",
        [["twitter", f"a{i}", f"user{i}", first, last] for i in (1, 2, 3)]
        + [["email", "press@europarl-europa.eu", "Anna Reporter", first, last]],
    )
    con.execute(
        "INSERT INTO watchlist VALUES ('person', 'Jan Novák', ['J. Novák'], 'CZ', 'MP', [], "
        "NULL, 'test')"
    )
    con.executemany("INSERT INTO kb_actors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ACTORS)
    con.executemany(
        "INSERT INTO kb_aliases VALUES (?, ?, ?, 'misp-galaxy')",
        [[a, alias_key(a), actor] for actor, names in ALIASES.items() for a in names],
    )
    con.executemany("INSERT INTO kb_techniques VALUES (?, ?, ?, ?, ?, ?)", TECHNIQUES)
    con.execute("INSERT INTO kb_incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", INCIDENT)
    con.execute("INSERT INTO kb_meta VALUES ('built_at', '2025-01-15T00:00:00+00:00')")
    for f in FINDINGS:
        con.execute(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "now())",
            [
                f["id"],
                f["type"],
                f["type"],
                f["title"],
                f["summary"],
                f["score"],
                f["severity"],
                _dt(f["first_seen"]),
                _dt(f["last_seen"]),
                f["item_ids"],
                f["account_ids"],
                f["source_ids"],
                f["targets"],
                f["actors"],
                f["disarm"],
                f["attack"],
                orjson.dumps(f["evidence"]).decode(),
            ],
        )


@pytest.fixture
def kb_store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "kb.duckdb", Settings(db=tmp_path / "kb.duckdb")) as store:
        populate(store)
        yield store


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "fresh.duckdb", Settings(db=tmp_path / "fresh.duckdb")) as store:
        yield store


def objects(store: Store, tlp: str = "amber", **kwargs: Any) -> dict[str, dict[str, Any]]:
    bundle = json.loads(export_stix(store, tlp, **kwargs).serialize())
    return {obj["id"]: obj for obj in bundle["objects"]}


def of_type(objs: dict[str, dict[str, Any]], type: str) -> list[dict[str, Any]]:
    return [o for o in objs.values() if o["type"] == type]


def by_name(objs: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [o for o in objs.values() if o.get("name") == name]
    return found


def relations(objs: dict[str, dict[str, Any]], source: str) -> set[tuple[str, str]]:
    """(relationship type, target type or name) of the relationships from ``source``."""
    found = set()
    for rel in of_type(objs, "relationship"):
        if rel["source_ref"] == source:
            target = objs[rel["target_ref"]]
            label = target.get("name") or target.get("country") or target["type"]
            found.add((rel["relationship_type"], label))
    return found


def write_json(path: Path, value: Any) -> Path:
    path.write_bytes(orjson.dumps(value))
    return path


# ----------------------------------------------------------------------------------------------
# Export: standards.

ALLOWED_WARNINGS = {
    "103",  # ids are UUIDv5 (deterministic), the spec recommends v4
    "202",  # relationships STIX does not list (grouping → actor, incident → location…)
    "302",  # external references with a URL but no hash
}


@pytest.mark.parametrize("tlp", ["clear", "green", "amber", "amber+strict", "red"])
def test_bundle_passes_the_oasis_validator(kb_store: Store, tlp: str) -> None:
    text = export_stix(kb_store, tlp).serialize()
    result = validate_string(text)
    assert result.is_valid, [str(e) for e in result.errors]
    assert result.errors == []
    codes = {m.group(1) for w in result.warnings or [] if (m := re.search(r"\{(\d+)\}", str(w)))}
    assert codes <= ALLOWED_WARNINGS, [str(w) for w in result.warnings or []]
    stix2.parse(text, allow_custom=False)  # the reference library reads it back, strictly


def test_bundle_converts_to_misp_events(kb_store: Store) -> None:
    from misp_stix_converter import ExternalSTIX2toMISPParser

    text = export_stix(kb_store, "green", misp=True).serialize()
    parser = ExternalSTIX2toMISPParser()
    parser.load_stix_bundle(stix2.parse(text, allow_custom=True))
    parser.parse_stix_bundle()
    assert dict(parser.errors) == {}
    events = {event.info: event for event in parser.misp_events}
    assert set(events) == {f["title"] for f in FINDINGS if f["type"] != "recruitment"}
    phishing = events["Lookalike-domain interview request to an MP"]
    tags = {tag.name for tag in phishing.tags}
    assert {"tlp:amber+strict", "phishing"} <= tags
    attributes = {(a.type, a.value) for a in phishing.attributes}
    assert ("domain", "europarl-europa.eu") in attributes
    laundering = events["CGTN article laundered by prvnizpravy.cz"]
    assert "tlp:green" in {tag.name for tag in laundering.tags}
    assert ("url", "https://prvnizpravy.cz/clanek-1") in {
        (a.type, a.value) for a in laundering.attributes
    }

    single = ExternalSTIX2toMISPParser()
    single.load_stix_bundle(stix2.parse(text, allow_custom=True))
    single.parse_stix_bundle(single_event=True)
    assert dict(single.errors) == {}


def test_misp_reads_no_incidents_hence_the_misp_option(kb_store: Store) -> None:
    from misp_stix_converter import ExternalSTIX2toMISPParser

    parser = ExternalSTIX2toMISPParser()
    parser.load_stix_bundle(stix2.parse(export_stix(kb_store).serialize(), allow_custom=True))
    parser.parse_stix_bundle()
    errors = [e for messages in parser.errors.values() for e in messages]
    assert errors and all("incident" in e for e in errors)
    objs = objects(kb_store, misp=True)
    assert not of_type(objs, "incident")
    campaign = by_name(objs, INCIDENT_TITLE)
    assert campaign["first_seen"].startswith("2021-01-01")
    assert campaign["last_seen"].startswith("2021-06-30")


# ----------------------------------------------------------------------------------------------
# Export: determinism and markings.


def test_exporting_twice_gives_identical_bytes(kb_store: Store, tmp_path: Path) -> None:
    first = write_bundle(kb_store, tmp_path / "a.json", "amber")
    write_bundle(kb_store, tmp_path / "b.json", "amber")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    # Same data in another store: same ids and bytes (nothing random, nothing "now").
    with Store(tmp_path / "other.duckdb", Settings(db=tmp_path / "other.duckdb")) as other:
        populate(other)
        assert export_stix(other, "amber").serialize() == first.serialize()
    objs = json.loads((tmp_path / "a.json").read_text())["objects"]
    assert [o["id"] for o in objs] == sorted(o["id"] for o in objs)
    apt31 = next(o for o in objs if o.get("name") == "APT31")
    assert apt31["id"] == stix_id("intrusion-set", "actor:apt31")
    assert apt31["created"] == "2024-01-01T00:00:00.000Z"
    assert apt31["modified"] == "2025-01-15T00:00:00.000Z"  # the KB's build time
    grouping = next(o for o in objs if o["type"] == "grouping" and o["name"].startswith("CGTN"))
    assert grouping["created"] == "2024-05-01T08:00:00.000Z"  # first_seen
    assert grouping["modified"] == "2024-05-01T20:00:00.000Z"  # last_seen


OFFICIAL_TLP2 = {
    "clear": ("94868c89-83c2-464b-929b-a1a8aa3c8487", "TLP:CLEAR"),
    "green": ("bab4a63c-aed9-4cf5-a766-dfca5abac2bb", "TLP:GREEN"),
    "amber": ("55d920b0-5e8b-4f79-9ee9-91f868d9b421", "TLP:AMBER"),
    "amber+strict": ("939a9414-2ddd-4d32-a0cd-375ea402b003", "TLP:AMBER+STRICT"),
    "red": ("e828b379-4e03-4974-9ac4-e53a884c97c1", "TLP:RED"),
}


@pytest.mark.parametrize("tlp", ["clear", "green", "amber", "red"])
def test_every_object_is_marked_at_least_as_requested(kb_store: Store, tlp: str) -> None:
    objs = objects(kb_store, tlp)
    level_of = {marking: level for level, marking in TLP2_MARKING_IDS.items()}
    for obj in objs.values():
        if obj["type"] == "marking-definition":
            tlp2 = obj["extensions"]["extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"]
            uuid, name = OFFICIAL_TLP2[tlp2["tlp_2_0"]]
            assert obj["id"] == f"marking-definition--{uuid}" and obj["name"] == name
            assert obj["created"] == "2022-10-01T00:00:00.000Z"
            continue
        (marking,) = obj["object_marking_refs"]
        assert marking in objs, "the marking definition travels with the bundle"
        assert stricter(level_of[marking], tlp) == level_of[marking], obj["id"]


def test_stricter_finding_tlp_wins_and_red_is_withheld(kb_store: Store) -> None:
    amber = TLP2_MARKING_IDS["amber"]
    strict = TLP2_MARKING_IDS["amber+strict"]
    objs = objects(kb_store, "green")
    phishing = by_name(objs, "Lookalike-domain interview request to an MP")
    assert phishing["object_marking_refs"] == [strict]
    # its evidence and its relationships carry its marking too
    for ref in phishing["object_refs"]:
        obj = objs[ref]
        if obj["type"] in ("indicator", "note", "observed-data", "email-message", "relationship"):
            assert obj["object_marking_refs"] == [strict], obj["id"]
    coordination = by_name(objs, "Three accounts co-posting")  # own TLP green = request
    assert coordination["object_marking_refs"] == [TLP2_MARKING_IDS["green"]]
    assert "Headhunter approach" not in {o.get("name") for o in objs.values()}
    result = export_stix(kb_store, "amber")
    assert result.withheld == ["finding:recruitment-0001"]
    assert result.raised == ["phishing-0001"]
    objs = objects(kb_store, "amber")
    assert by_name(objs, "Three accounts co-posting")["object_marking_refs"] == [amber]
    red = objects(kb_store, "red")
    restricted = by_name(red, "Headhunter approach")
    assert restricted["object_marking_refs"] == [TLP2_MARKING_IDS["red"]]
    # under RED everything is RED (RED is the strictest)
    assert {m for o in red.values() for m in o.get("object_marking_refs", [])} == {
        TLP2_MARKING_IDS["red"]
    }


def test_unknown_finding_tlp_counts_as_red(kb_store: Store) -> None:
    kb_store.con.execute(
        "UPDATE findings SET evidence = '{\"tlp\": \"secret\"}' WHERE id = 'laundering-0001'"
    )
    assert "finding:laundering-0001" in export_stix(kb_store, "amber").withheld


@pytest.mark.parametrize(
    ("text", "level"),
    [("TLP:AMBER+STRICT", "amber+strict"), ("white", "clear"), ("TLP:CLEAR", "clear"),
     ("Green", "green"), ("amber-strict", "amber+strict"), ("RED", "red"), ("secret", None),
     (None, None), (3, None)],
)  # fmt: skip
def test_parse_tlp(text: Any, level: str | None) -> None:
    assert parse_tlp(text) == level


def test_bad_tlp_request_is_refused(kb_store: Store) -> None:
    with pytest.raises(ValueError, match="TLP"):
        export_stix(kb_store, "purple")


# ----------------------------------------------------------------------------------------------
# Export: what maps to what.


def test_actors_techniques_incidents_and_sources(kb_store: Store) -> None:
    objs = objects(kb_store)
    apt31 = by_name(objs, "APT31")
    assert apt31["type"] == "intrusion-set"
    assert apt31["aliases"] == ["Judgment Panda", "Violet Typhoon", "Zirconium"]
    assert {
        "source_name": "mitre-attack",
        "external_id": "G0128",
        "url": "https://attack.mitre.org/groups/G0128/",
    } in apt31["external_references"]
    assert apt31["extensions"][EXTENSION_ID]["kind"] == "threat-actor"
    assert relations(objs, apt31["id"]) == {
        ("originates-from", "CN"),
        ("attributed-to", "Ministry of State Security"),  # the sponsor identity and the parent
        ("uses", "Spearphishing Attachment"),
    }
    sponsor_types = {
        objs[r["target_ref"]]["type"]
        for r in of_type(objs, "relationship")
        if r["source_ref"] == apt31["id"] and r["relationship_type"] == "attributed-to"
    }
    assert sponsor_types == {"identity", "threat-actor"}
    mss = objs[stix_id("threat-actor", "actor:mss")]
    assert mss["threat_actor_types"] == ["nation-state"]
    spamouflage = by_name(objs, "Spamouflage")
    assert spamouflage["type"] == "threat-actor" and "Dragonbridge" in spamouflage["aliases"]
    assert ("located-at", "CN") in relations(objs, spamouflage["id"])

    patterns = {p["name"]: p for p in of_type(objs, "attack-pattern")}
    assert set(patterns) == {
        "Spearphishing Attachment",
        "Flooding the Information Space",
        "Phishing for Information",
    }  # only referenced techniques: nothing references T1059
    assert patterns["Flooding the Information Space"]["external_references"] == [
        {"source_name": "DISARM", "external_id": "T0049"}
    ]
    assert patterns["Spearphishing Attachment"]["kill_chain_phases"] == [
        {"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}
    ]
    assert patterns["Flooding the Information Space"]["kill_chain_phases"] == [
        {"kill_chain_name": "disarm", "phase_name": "ta17-maximise-exposure"}
    ]

    incident = by_name(objs, INCIDENT_TITLE)
    assert incident["type"] == "incident"
    assert incident["extensions"][EXTENSION_ID]["date_start"] == "2021-01-01"
    assert relations(objs, incident["id"]) == {
        ("attributed-to", "APT31"), ("uses", "Spearphishing Attachment"),
        ("uses", "Phishing for Information"), ("targets", "CZ"), ("targets", "BE"),
        ("targets", "GB"),
    }  # fmt: skip

    cgtn = by_name(objs, "CGTN")
    assert cgtn["type"] == "identity" and cgtn["identity_class"] == "organization"
    assert cgtn["sectors"] == ["communications"]
    assert ("related-to", "CN") in relations(objs, cgtn["id"])
    embassy = by_name(objs, "Chinese Embassy in Prague")
    assert embassy["sectors"] == ["government-national"]
    assert relations(objs, embassy["id"]) == {("related-to", "CN"), ("located-at", "CZ")}
    names = {o.get("name") for o in objs.values()}
    assert "První zprávy" in names  # cited by a finding
    assert "Seznam Zprávy" not in names  # independent and uncited


def test_findings_carry_their_evidence(kb_store: Store) -> None:
    objs = objects(kb_store)
    laundering = by_name(objs, "CGTN article laundered by prvnizpravy.cz")
    assert laundering["type"] == "grouping"
    assert laundering["context"] == "suspicious-activity"
    assert laundering["confidence"] == 82
    assert laundering["labels"] == ["laundering", "severity:high"]
    ext = laundering["extensions"][EXTENSION_ID]
    assert ext["id"] == "laundering-0001" and ext["score"] == 0.82
    refs = [objs[r] for r in laundering["object_refs"]]
    (note,) = [r for r in refs if r["type"] == "note"]
    content = json.loads(note["content"])
    assert content["evidence"]["pairs"][0]["copy_id"] == "pz-1"
    assert content["item_ids"] == ["cgtn-1", "pz-1"]
    observed = [r for r in refs if r["type"] == "observed-data"]
    assert len(observed) == 2
    urls = {
        objs[ref]["value"] for o in observed for ref in o["object_refs"] if ref.startswith("url--")
    }
    assert urls == {
        "https://www.cgtn.com/news/2024-05-01/a.html",
        "https://prvnizpravy.cz/clanek-1",
    }
    assert {"CGTN", "První zprávy"} <= {r.get("name") for r in refs}
    assert relations(objs, laundering["id"]) == {
        ("uses", "Flooding the Information Space"), ("targets", "CZ"),
    }  # fmt: skip

    coordination = by_name(objs, "Three accounts co-posting")
    accounts = {
        objs[r]["user_id"] for r in coordination["object_refs"] if r.startswith("user-account--")
    }
    assert accounts == {"a1", "a2", "a3"}
    assert all(
        objs[r].get("account_type") == "twitter"
        for r in coordination["object_refs"]
        if r.startswith("user-account--")
    )
    # "Dragonbridge" resolves through the alias table to the Spamouflage actor
    assert ("attributed-to", "Spamouflage") in relations(objs, coordination["id"])

    phishing = by_name(objs, "Lookalike-domain interview request to an MP")
    refs = [objs[r] for r in phishing["object_refs"]]
    patterns = sorted(r["pattern"] for r in refs if r["type"] == "indicator")
    assert patterns == [
        "[domain-name:value = 'europarl-europa.eu']",
        "[url:value = 'https://europarl-europa.eu/px.gif?id=it\\'s']",
    ]
    assert "europarl.europa.eu" not in json.dumps([r.get("pattern") for r in refs])
    (message,) = [r for r in refs if r["type"] == "email-message"]
    assert message["subject"] == "Interview request"
    assert objs[message["from_ref"]]["value"] == "press@europarl-europa.eu"
    assert relations(objs, phishing["id"]) == {
        ("attributed-to", "APT31"), ("uses", "Spearphishing Attachment"),
        ("uses", "Phishing for Information"), ("targets", "Jan Novák"),
    }  # fmt: skip
    target = by_name(objs, "Jan Novák")
    assert target["identity_class"] == "individual"
    indicator = next(r for r in refs if r["type"] == "indicator")
    assert ("indicates", "APT31") in relations(objs, indicator["id"])


def test_since_keeps_recent_findings_and_incidents(kb_store: Store) -> None:
    objs = objects(kb_store, since="2024-05-02")
    names = {o.get("name") for o in objs.values()}
    assert "Three accounts co-posting" in names
    assert "CGTN article laundered by prvnizpravy.cz" not in names
    assert INCIDENT_TITLE not in names
    assert "APT31" in names  # the knowledge base travels whole
    with pytest.raises(ValueError, match="ISO 8601"):
        export_stix(kb_store, since="last tuesday")


# ----------------------------------------------------------------------------------------------
# Import and round trip.


def kb_snapshot(store: Store) -> dict[str, Any]:
    """The knowledge (origins aside: an import records its own), with lists as sets."""
    actors = {}
    for row in store.rows("SELECT * FROM kb_actors"):
        row.pop("origins")
        actors[row["actor_id"]] = {
            k: sorted(v) if isinstance(v, list) and k != "refs" else v for k, v in row.items()
        }
    incidents = {}
    for row in store.rows("SELECT * FROM kb_incidents"):
        incidents[row["incident_id"]] = {
            k: sorted(v) if isinstance(v, list) and k != "refs" else v for k, v in row.items()
        }
    return {
        "actors": actors,
        "aliases": {
            (r["alias"], r["key"], r["actor_id"]) for r in store.rows("SELECT * FROM kb_aliases")
        },
        "techniques": {r["technique_id"]: r for r in store.rows("SELECT * FROM kb_techniques")},
        "incidents": incidents,
    }


@pytest.mark.parametrize("misp", [False, True])
def test_round_trip_gives_the_same_knowledge(
    kb_store: Store, fresh: Store, tmp_path: Path, misp: bool
) -> None:
    path = tmp_path / "bundle.json"
    write_bundle(kb_store, path, "clear", misp=misp)
    summary = import_bundle(fresh, path)
    assert summary.rejected == []
    assert (summary.actors_added, summary.incidents_added) == (3, 1)
    before, after = kb_snapshot(kb_store), kb_snapshot(fresh)
    # only the techniques something references are exported
    before["techniques"].pop("T1059")
    assert after == before
    assert {o for r in fresh.rows("SELECT origins FROM kb_actors") for o in r["origins"]} == {
        "stix-import"
    }
    assert {r["origin"] for r in fresh.rows("SELECT origin FROM kb_aliases")} == {"stix-import"}
    # and the import is idempotent
    again = import_bundle(fresh, path)
    assert (again.actors_added, again.aliases_added, again.incidents_added) == (0, 0, 0)
    assert kb_snapshot(fresh) == after


def test_re_export_of_imported_knowledge_is_identical(
    kb_store: Store, fresh: Store, tmp_path: Path
) -> None:
    """The KB part of a bundle survives export → import → export unchanged."""
    path = tmp_path / "bundle.json"
    write_bundle(kb_store, path, "clear")
    import_bundle(fresh, path)
    fresh.con.execute("INSERT INTO kb_meta VALUES ('built_at', '2025-01-15T00:00:00+00:00')")
    kb_types = ("intrusion-set", "threat-actor", "attack-pattern", "incident")
    first = {i: o for i, o in objects(kb_store, "clear").items() if o["type"] in kb_types}
    second = {i: o for i, o in objects(fresh, "clear").items() if o["type"] in kb_types}
    assert second == first


def opencti_bundle(marking: str | None = None) -> dict[str, Any]:
    """A bundle as OpenCTI writes one: no fimiwatch extension, TLP 1.0 markings, x_opencti_*."""
    marks = {"object_marking_refs": [marking]} if marking else {}
    common = {
        "spec_version": "2.1",
        "created": "2023-01-01T00:00:00.000Z",
        "modified": "2023-02-01T00:00:00.000Z",
        **marks,
    }
    iset = "intrusion-set--0f7a8b9c-1d2e-4f3a-8b4c-5d6e7f8a9b0c"
    ta = "threat-actor--1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    ap = "attack-pattern--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
    dis = "attack-pattern--3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
    inc = "incident--4d5e6f7a-8b9c-4d0e-9f2a-3b4c5d6e7f8a"
    loc = "location--5e6f7a8b-9c0d-4e1f-8a3b-4c5d6e7f8a9b"
    ident = "identity--6f7a8b9c-0d1e-4f2a-9b4c-5d6e7f8a9b0c"
    return {
        "type": "bundle",
        "id": "bundle--7a8b9c0d-1e2f-4a3b-8c5d-6e7f8a9b0c1d",
        "objects": [
            {"type": "intrusion-set", "id": iset, "name": "Violet Typhoon",
             "aliases": ["Zirconium", "Bronze Vinewood"], "x_opencti_score": 80,
             "description": "OpenCTI's description.", **common},
            {"type": "threat-actor", "id": ta, "name": "Hubei State Security Department",
             "threat_actor_types": ["nation-state"], **common},
            {"type": "attack-pattern", "id": ap, "name": "Spearphishing Link",
             "external_references": [{"source_name": "mitre-attack", "external_id": "T1566.002",
                                      "url": "https://attack.mitre.org/techniques/T1566/002"}],
             "kill_chain_phases": [{"kill_chain_name": "mitre-attack",
                                    "phase_name": "initial-access"}], **common},
            {"type": "attack-pattern", "id": dis, "name": "Create inauthentic websites",
             "external_references": [{"source_name": "DISARM", "external_id": "T0013"}],
             **common},
            {"type": "incident", "id": inc, "name": "Phishing of MEP staff", "first_seen":
             "2023-03-01T00:00:00Z", **common},
            {"type": "location", "id": loc, "name": "Czechia", "country": "cz", **common},
            {"type": "identity", "id": ident, "name": "CERT-EU", "identity_class":
             "organization", **common},
            {"type": "relationship", "id": "relationship--8b9c0d1e-2f3a-4b4c-9d6e-7f8a9b0c1d2e",
             "relationship_type": "attributed-to", "source_ref": iset, "target_ref": ta,
             **common},
            {"type": "relationship", "id": "relationship--9c0d1e2f-3a4b-4c5d-8e7f-8a9b0c1d2e3f",
             "relationship_type": "uses", "source_ref": iset, "target_ref": ap, **common},
            {"type": "relationship", "id": "relationship--0d1e2f3a-4b5c-4d6e-9f8a-9b0c1d2e3f4a",
             "relationship_type": "uses", "source_ref": iset, "target_ref": dis, **common},
            {"type": "relationship", "id": "relationship--1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b",
             "relationship_type": "attributed-to", "source_ref": inc, "target_ref": iset,
             **common},
            {"type": "relationship", "id": "relationship--2f3a4b5c-6d7e-4f8a-9b0c-1d2e3f4a5b6c",
             "relationship_type": "targets", "source_ref": inc, "target_ref": loc, **common},
            {"type": "x-opencti-note", "id": "x-opencti-note--3a4b5c6d-7e8f-4a9b-8c1d-2e3f4a5b6c7d",
             "spec_version": "2.1"},
            {"type": "report", "id": "report--4b5c6d7e-8f9a-4b0c-9d2e-3f4a5b6c7d8e",
             "name": "r", "published": "2023-01-01T00:00:00Z", "object_refs": [iset], **common},
        ],
    }  # fmt: skip


def test_import_merges_by_alias_and_records_markings(kb_store: Store, tmp_path: Path) -> None:
    amber_v1 = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"  # TLP 1.0 AMBER
    path = write_json(tmp_path / "opencti.json", opencti_bundle(amber_v1))
    summary = import_bundle(kb_store, path)
    assert summary.rejected == []
    assert summary.actors_merged == 1  # Violet Typhoon is an alias of APT31
    assert summary.actors_added == 1  # the Hubei SSD is new
    assert (summary.techniques_added, summary.incidents_added) == (2, 1)
    assert summary.ignored["report"] == 1 and summary.ignored["custom (x-) objects"] == 1
    apt31 = kb_store.rows("SELECT * FROM kb_actors WHERE actor_id = 'apt31'")[0]
    assert apt31["name"] == "APT31" and apt31["kind"] == "threat-actor"  # kept
    assert apt31["description"] == "Chinese state-sponsored cyber espionage group."  # kept
    assert apt31["parent"] == "mss"  # kept: only gaps are filled
    assert "T1566.002" in apt31["techniques"] and "T0013" in apt31["disarm"]
    assert "stix-import" in apt31["origins"]
    aliases = {
        r["alias"]: r["origin"]
        for r in kb_store.rows("SELECT alias, origin FROM kb_aliases WHERE actor_id = 'apt31'")
    }
    assert aliases["Bronze Vinewood"] == "stix-import"
    assert aliases["Zirconium"] == "misp-galaxy"  # not duplicated
    hubei = kb_store.rows("SELECT * FROM kb_actors WHERE name LIKE 'Hubei%'")[0]
    assert hubei["actor_id"] == "hubei-state-security-department"
    assert hubei["kind"] == "state-body"
    technique = kb_store.rows("SELECT * FROM kb_techniques WHERE technique_id = 'T1566.002'")[0]
    assert technique["framework"] == "attack" and technique["tactics"] == ["initial-access"]
    assert kb_store.scalar(
        "SELECT framework FROM kb_techniques WHERE technique_id = 'T0013'"
    ) == "disarm"  # fmt: skip
    incident = kb_store.rows("SELECT * FROM kb_incidents WHERE title LIKE 'Phishing of%'")[0]
    assert incident["actors"] == ["apt31"] and incident["target_countries"] == ["CZ"]
    assert str(incident["date_start"]) == "2023-03-01"
    assert incident["attribution"] == "unattributed"
    # the bundle was TLP:AMBER: what it touched is never exported below AMBER again
    objs = objects(kb_store, "clear")
    assert by_name(objs, "APT31")["object_marking_refs"] == [TLP2_MARKING_IDS["amber"]]
    assert by_name(objs, "Spamouflage")["object_marking_refs"] == [TLP2_MARKING_IDS["clear"]]


def test_red_imported_knowledge_is_withheld_below_red(kb_store: Store, tmp_path: Path) -> None:
    red_v2 = TLP2_MARKING_IDS["red"]
    import_bundle(kb_store, write_json(tmp_path / "red.json", opencti_bundle(red_v2)))
    result = export_stix(kb_store, "amber")
    assert "actor:apt31" in result.withheld
    objs = json.loads(result.serialize())["objects"]
    names = {str(o.get("name")).casefold() for o in objs}
    assert not names & {"apt31", "violet typhoon", "hubei state security department"}
    assert "zirconium" not in result.serialize().casefold()
    red = objects(kb_store, "red")
    assert by_name(red, "APT31")["object_marking_refs"] == [red_v2]


# ----------------------------------------------------------------------------------------------
# Hostile input.

VALID_ACTOR = {
    "type": "intrusion-set", "spec_version": "2.1",
    "id": "intrusion-set--11111111-2222-4333-8444-555555555555",
    "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
    "name": "Good Actor",
}  # fmt: skip


def bundle_of(*objs: Any) -> dict[str, Any]:
    return {
        "type": "bundle",
        "id": "bundle--11111111-2222-4333-8444-555555555555",
        "objects": list(objs),
    }


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2]", "not a STIX bundle"),
        (b'{"type": "report"}', "not a STIX bundle"),
        (b'{"type": "bundle", "id": "bundle--x", "objects": []}', "no valid id"),
        (b'{"type": "bundle", "id": "bundle--11111111-2222-4333-8444-555555555555", '
         b'"spec_version": "2.0", "objects": []}', "only STIX 2.1"),
        (b'{"type": "bundle", "id": "bundle--11111111-2222-4333-8444-555555555555", '
         b'"objects": {}}', "not a list"),
        (b'{"type": "bundle", "objects": ' + b"[" * 100 + b"]" * 100 + b"}", "deeper than"),
    ],
)  # fmt: skip
def test_unreadable_files_are_refused_naming_the_file(
    fresh: Store, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ReadError, match=reason) as error:
        import_bundle(fresh, path)
    assert str(path) in str(error.value)


def test_size_is_bounded(tmp_path: Path) -> None:
    small = Settings(db=tmp_path / "s.duckdb", ingest=IngestSettings(max_document_bytes=100))
    path = write_json(tmp_path / "big.json", bundle_of(VALID_ACTOR, VALID_ACTOR))
    with Store(small.db, small) as store, pytest.raises(ReadError, match="over the limit"):
        import_bundle(store, path)
    with Store(small.db, small) as store, pytest.raises(ReadError, match="no such file"):
        import_bundle(store, tmp_path / "missing.json")


def test_bad_objects_are_skipped_and_reported(fresh: Store, tmp_path: Path) -> None:
    def actor(**changes: Any) -> dict[str, Any]:
        obj = {**VALID_ACTOR, **changes}
        return {k: v for k, v in obj.items() if v is not None}

    objs = [
        "just a string",
        actor(name=None, id="intrusion-set--21111111-2222-4333-8444-555555555555"),
        actor(spec_version="2.0", id="intrusion-set--31111111-2222-4333-8444-555555555555"),
        actor(spec_version=None, id="intrusion-set--41111111-2222-4333-8444-555555555555"),
        {"type": "made-up", "id": "made-up--51111111-2222-4333-8444-555555555555",
         "spec_version": "2.1"},
        actor(id="threat-actor--61111111-2222-4333-8444-555555555555"),
        actor(modified="yesterday", id="intrusion-set--71111111-2222-4333-8444-555555555555"),
        actor(id="intrusion-set--not-a-uuid"),
        VALID_ACTOR,
    ]  # fmt: skip
    summary = import_bundle(fresh, write_json(tmp_path / "mixed.json", bundle_of(*objs)))
    reasons = {index: reason for index, reason, _ in summary.rejected}
    assert set(reasons) == {0, 1, 2, 3, 4, 5, 6, 7}
    assert reasons[0].startswith("objects[0]: not a JSON object")
    assert "objects[1] (intrusion-set--2111" in reasons[1] and "name" in reasons[1]
    assert "spec_version '2.0' is not 2.1" in reasons[2]
    assert "missing spec_version" in reasons[3]
    assert "unknown object type 'made-up'" in reasons[4]
    assert "does not match type" in reasons[5]
    assert "invalid intrusion-set" in reasons[6] and "modified" in reasons[6]
    assert "invalid id" in reasons[7]
    assert summary.actors_added == 1
    assert fresh.scalar("SELECT name FROM kb_actors") == "Good Actor"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
STIX_KEYS = st.sampled_from(
    ["name", "aliases", "external_references", "kill_chain_phases", "description", "created",
     "modified", "source_ref", "target_ref", "relationship_type", "country", "extensions",
     "object_marking_refs", "first_seen", "threat_actor_types", "identity_class", "spec_version",
     "definition_type", "definition"]
)  # fmt: skip
STIX_TYPES = st.sampled_from(
    ["intrusion-set", "threat-actor", "attack-pattern", "incident", "campaign", "relationship",
     "identity", "location", "marking-definition", "note", "x-custom", "nonsense"]
)  # fmt: skip


@st.composite
def stix_like(draw: st.DrawFn) -> dict[str, Any]:
    """Objects that pass the envelope checks and reach the STIX parser and the mapping."""
    type = draw(STIX_TYPES)
    obj: dict[str, Any] = {
        "type": type,
        "id": f"{type}--{draw(st.uuids(version=4))}",
        "spec_version": "2.1",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "name": draw(st.text(max_size=10)),
    }
    obj.update(draw(st.dictionaries(STIX_KEYS, JSON, max_size=5)))
    if draw(st.booleans()):
        obj["extensions"] = {
            EXTENSION_ID: draw(
                st.dictionaries(
                    st.sampled_from(
                        ["id", "kind", "framework", "tactics", "date_start", "attribution"]
                    ),
                    JSON,
                    max_size=4,
                )
            )
        }
    return obj


def test_arbitrary_json_never_crashes_the_importer(tmp_path: Path) -> None:
    settings_ = Settings(db=tmp_path / "h.duckdb")
    path = tmp_path / "h.json"
    with Store(settings_.db, settings_) as store:

        def outcome(value: Any) -> None:
            path.write_text(json.dumps(value))
            try:
                summary = import_bundle(store, path)
            except ReadError as error:
                assert str(path) in str(error)
            else:
                assert isinstance(summary, ImportSummary)

        @settings(max_examples=100, deadline=None)
        @given(JSON)
        def any_json(value: Any) -> None:
            outcome(value)

        @settings(max_examples=200, deadline=None)
        @given(st.lists(stix_like() | JSON, max_size=6))
        def bundle_of_anything(objs: list[Any]) -> None:
            outcome(bundle_of(*objs))

        any_json()
        bundle_of_anything()


# ----------------------------------------------------------------------------------------------
# Command line.


def cli(db: Path) -> typer.Typer:
    """The two apps mounted as the main CLI mounts them."""
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = Settings(db=db)

    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")
    return app


def populated_db(path: Path) -> Path:
    with Store(path, Settings(db=path)) as store:
        populate(store)
    return path


def test_cli_export_and_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The commands build the packaged KB first; this test keeps the hand-made one.
    monkeypatch.setattr("fimiwatch.cli_stix._prepare_kb", lambda store: None)
    db = populated_db(tmp_path / "kb.duckdb")
    runner = CliRunner()
    out = tmp_path / "out.json"
    result = runner.invoke(cli(db), ["export", "stix", "--tlp", "green", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "TLP:GREEN" in result.output and "left out" in result.output
    assert stix2.parse(out.read_text(), allow_custom=False).type == "bundle"
    stdout = runner.invoke(cli(db), ["export", "stix", "--tlp", "green", "--out", "-"])
    assert stdout.exit_code == 0 and json.loads(
        stdout.stdout[: stdout.stdout.rindex("}") + 1]
    )["type"] == "bundle"  # fmt: skip
    assert (
        runner.invoke(cli(db), ["export", "stix", "--out", str(out), "--tlp", "blue"]).exit_code
        == 2
    )
    assert (
        runner.invoke(cli(db), ["export", "stix", "--out", str(out), "--since", "soon"]).exit_code
        == 2
    )
    assert runner.invoke(cli(db), ["export", "stix"]).exit_code == 2  # --out is required

    fresh_db = tmp_path / "fresh.duckdb"
    imported = runner.invoke(cli(fresh_db), ["import", "stix", str(out)])
    assert imported.exit_code == 0, imported.output
    assert "actors" in imported.output

    bad = write_json(tmp_path / "mixed.json", bundle_of("junk", VALID_ACTOR))
    mixed = runner.invoke(cli(fresh_db), ["import", "stix", str(bad)])
    # the console wraps long lines (a deep tmp_path), so compare with whitespace collapsed
    assert mixed.exit_code == 0, mixed.output
    assert "objects[0]: not a JSON object" in " ".join(mixed.output.split())
    quarantine = [
        orjson.loads(line)
        for line in fresh_db.with_suffix(".quarantine.jsonl").read_bytes().splitlines()
    ]
    assert quarantine[-1]["file"] == str(bad) and quarantine[-1]["line"] == 0

    broken = tmp_path / "broken.json"
    broken.write_text("{")
    failed = runner.invoke(cli(fresh_db), ["import", "stix", str(broken)])
    assert isinstance(failed.exception, ReadError)  # the main entry maps this to exit 2
    del failed  # its traceback holds the closed store, which DuckDB reports if alive at exit
    gc.collect()


def test_levels_are_ordered() -> None:
    assert TLP_LEVELS == ("clear", "green", "amber", "amber+strict", "red")
    assert stricter("green", "amber+strict") == "amber+strict"
    assert stricter("red", "clear") == "red"
