"""The KB build: packaged data in, deterministic tables out, curated records validated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from fimiwatch.findings import FINDING_TYPES
from fimiwatch.intel.bundled import Cluster, load_bundled
from fimiwatch.intel.curated import (
    ATTRIBUTIONS,
    KbDataError,
    load_curated_actors,
    load_incidents,
)
from fimiwatch.intel.disarm import technique_reasons, techniques_for
from fimiwatch.intel.kb import SCHEMAS, VERSION_KEY, ensure_kb, version_key
from fimiwatch.intel.merge import merge_clusters
from fimiwatch.store import Store
from tests.intel.kbstore import built_kb


@pytest.fixture(scope="module")
def kb() -> Iterator[Store]:
    with Store(built_kb()) as store:
        yield store


def _tables(store: Store) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: store.con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in SCHEMAS
    }


def test_build_is_skipped_when_the_version_is_current(kb: Store) -> None:
    assert kb.scalar("SELECT value FROM kb_meta WHERE key = ?", [VERSION_KEY]) == version_key()
    assert ensure_kb(kb) is False


def test_stale_version_rebuilds_and_two_builds_are_identical(tmp_path: Path, kb: Store) -> None:
    with Store(tmp_path / "again.duckdb") as again:
        again.con.execute("INSERT INTO kb_meta VALUES (?, 'an older build')", [VERSION_KEY])
        assert ensure_kb(again) is True
        assert _tables(again) == _tables(kb)
        counts = orjson.loads(again.scalar("SELECT value FROM kb_meta WHERE key = 'counts'"))
    assert counts["kb_actors"] > 800 and counts["kb_techniques"] > 900


def test_rebuild_keeps_rows_the_build_does_not_own(tmp_path: Path) -> None:
    """A STIX import (or any other writer) adds rows; a rebuild must not wipe them."""
    with Store(tmp_path / "mixed.duckdb") as store:
        ensure_kb(store)
        store.con.execute(
            "INSERT INTO kb_actors (actor_id, name, kind) VALUES ('imported-x', 'X', 'imported')"
        )
        store.con.execute("INSERT INTO kb_aliases VALUES ('Ex', 'ex', 'imported-x', 'stix-import')")
        store.con.execute("INSERT INTO kb_aliases VALUES ('Zed', 'zed', 'apt31', 'stix-import')")
        store.con.execute(
            "INSERT INTO kb_incidents (incident_id, title, attribution) "
            "VALUES ('imported-i', 'I', 'vendor')"
        )
        store.con.execute("INSERT INTO kb_meta VALUES ('tlp:actor:imported-x', 'amber')")
        # A row the previous build wrote but the next one no longer does must go.
        owned = orjson.loads(store.scalar("SELECT value FROM kb_meta WHERE key = 'kb_build_ids'"))
        owned["kb_incidents"].append("retired-incident")
        store.con.execute(
            "UPDATE kb_meta SET value = ? WHERE key = 'kb_build_ids'",
            [orjson.dumps(owned).decode()],
        )
        store.con.execute(
            "INSERT INTO kb_incidents (incident_id, title, attribution) "
            "VALUES ('retired-incident', 'R', 'vendor')"
        )
        assert ensure_kb(store, force=True) is True
        incidents = {
            r[0] for r in store.con.execute("SELECT incident_id FROM kb_incidents").fetchall()
        }
        assert "imported-i" in incidents and "retired-incident" not in incidents
        assert store.scalar("SELECT count(*) FROM kb_actors WHERE actor_id = 'imported-x'") == 1
        assert store.scalar("SELECT count(*) FROM kb_aliases WHERE origin = 'stix-import'") == 2
        assert (
            store.scalar("SELECT value FROM kb_meta WHERE key = 'tlp:actor:imported-x'") == "amber"
        )


def test_galaxy_clusters_are_merged_into_one_actor(kb: Store) -> None:
    row = kb.rows("SELECT * FROM kb_actors WHERE actor_id = 'apt31'")[0]
    assert (row["name"], row["country"], row["attack_id"]) == ("APT31", "CN", "G0128")
    origins = " ".join(row["origins"])
    for source in ("threat-actor:APT31", "microsoft-activity-group:ZIRCONIUM", "attack:ZIRCONIUM"):
        assert source in origins
    zirconium = next(c for c in load_bundled().clusters if c.attack_id == "G0128")
    assert zirconium.techniques and set(row["techniques"]) == set(zirconium.techniques)
    assert kb.scalar("SELECT count(*) FROM kb_actors WHERE attack_id = 'G0128'") == 1


def test_curated_actors_are_present_with_sources(kb: Store) -> None:
    for record in load_curated_actors():
        row = kb.rows("SELECT * FROM kb_actors WHERE actor_id = ?", [record.id])[0]
        assert row["refs"], record.id
        assert len(row["refs"]) >= len(record.sources)
        if record.kind:
            assert row["kind"] == record.kind
    kinds = dict(kb.con.execute("SELECT actor_id, kind FROM kb_actors").fetchall())
    for operation in ("doppelganger", "portal-kombat", "paperwall", "storm-1516", "dragonbridge"):
        assert kinds[operation] == "influence-operation"
    for body in ("mss", "hainan-ssd", "hubei-ssd"):
        assert kinds[body] == "state-body"
    assert kinds["apt8"] == "threat-actor"
    parents = dict(kb.con.execute("SELECT actor_id, parent FROM kb_actors").fetchall())
    assert parents["apt31"] == "hubei-ssd" and parents["hubei-ssd"] == "mss"
    assert parents["apt40"] == "hainan-ssd" and parents["hainan-ssd"] == "mss"
    assert parents["apt1"] is None, "APT1 → Unit 61398 is a vendor link, not an official one"
    disarm = kb.scalar("SELECT disarm FROM kb_actors WHERE actor_id = 'doppelganger'")
    assert "T0099.004" in disarm


def test_incident_records(kb: Store) -> None:
    actors = {r[0] for r in kb.con.execute("SELECT actor_id FROM kb_actors").fetchall()}
    techniques = {r[0] for r in kb.con.execute("SELECT technique_id FROM kb_techniques").fetchall()}
    rows = kb.rows("SELECT * FROM kb_incidents")
    assert len(rows) == len(load_incidents()) >= 12
    for row in rows:
        assert row["refs"], row["incident_id"]
        assert row["attribution"] in ATTRIBUTIONS
        assert set(row["actors"]) <= actors
        assert set(row["techniques"]) <= techniques
        assert row["target_countries"]
    by_id = {row["incident_id"]: row for row in rows}
    assert by_id["uk-eu-referendum-registration-2016"]["attribution"] == "unattributed"
    assert by_id["uk-eu-referendum-registration-2016"]["actors"] == []
    assert by_id["ipac-apt31-tracking-emails-2021"]["actors"] == ["apt31"]
    electoral = by_id["uk-electoral-commission-2021"]
    assert electoral["attribution"] == "official" and electoral["actors"] == []
    assert str(electoral["date_start"]) == "2021-08-01"
    assert str(electoral["date_end"]) == "2022-10-31"


def test_finding_type_mapping_ids_exist(kb: Store) -> None:
    known = dict(kb.con.execute("SELECT technique_id, framework FROM kb_techniques").fetchall())
    for finding_type in FINDING_TYPES:
        disarm, attack = techniques_for(finding_type)
        assert disarm, finding_type
        assert all(known[t] == "disarm" for t in disarm)
        assert all(known[t] == "attack" for t in attack)
        assert all(
            e.reason for entries in technique_reasons(finding_type).values() for e in entries
        )
    assert "T1566.002" in techniques_for("phishing")[1]
    assert {"T1585.001", "T1586.001"} <= set(techniques_for("recruitment")[1])
    with pytest.raises(ValueError, match="finding type"):
        techniques_for("gossip")


def test_bad_curated_data_fails_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fimiwatch.intel import curated
    from fimiwatch.intel.kb import build_kb

    document = orjson.loads(curated.INCIDENTS_FILE.read_bytes())
    document["incidents"][0]["actors"] = ["no-such-actor"]
    bad = tmp_path / "incidents.json"
    bad.write_bytes(orjson.dumps(document))
    monkeypatch.setattr(curated, "INCIDENTS_FILE", bad)
    with pytest.raises(KbDataError, match="no-such-actor"):
        build_kb()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attribution": "probably"}, "attribution"),
        ({"references": []}, "references"),
        ({"target_countries": ["UK "]}, "alpha-2"),
        ({"date_start": "2021-13"}, "2021-13"),
    ],
)
def test_incident_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, object], message: str
) -> None:
    from fimiwatch.intel import curated

    document = orjson.loads(curated.INCIDENTS_FILE.read_bytes())
    document["incidents"][0].update(change)
    bad = tmp_path / "incidents.json"
    bad.write_bytes(orjson.dumps(document))
    monkeypatch.setattr(curated, "INCIDENTS_FILE", bad)
    with pytest.raises(KbDataError, match=message):
        load_incidents()


def _cluster(origin: str, name: str, *aliases: str, attack_id: str | None = None) -> Cluster:
    return Cluster(origin=origin, name=name, aliases=(name, *aliases), attack_id=attack_id)


def test_merge_guards() -> None:
    clusters = [
        _cluster("attack", "APT28", "Fancy Bear", attack_id="G0007"),
        _cluster("attack", "APT29", "Cozy Bear", attack_id="G0016"),
        _cluster("galaxy", "APT28", "Grizzly Steppe", "Sofacy"),
        _cluster("galaxy", "APT29", "Grizzly Steppe"),
        _cluster("vendor", "Sofacy Group", "Sofacy", "Cozy Bear"),  # would join APT28 and APT29
        _cluster("vendor", "ZZ", "ab"),
        _cluster("galaxy", "Other", "ab"),
    ]
    merge = merge_clusters(clusters)
    by_id = {
        attack_id: [(c.origin, c.name) for c in group]
        for group in merge.groups
        for attack_id in {c.attack_id for c in group} - {None}
    }
    assert by_id["G0007"] == [("attack", "APT28"), ("galaxy", "APT28")]  # same primary name
    assert ("vendor", "Sofacy Group") in by_id["G0016"]  # joined on the specific "Cozy Bear"
    assert all(len({c.attack_id for c in g} - {None}) <= 1 for g in merge.groups)
    assert "sofacy" in merge.ambiguous  # would have joined two ATT&CK groups
    assert {"grizzlysteppe", "ab"} <= merge.generic  # shared synonym; too short
    assert len(merge.groups) == 4
