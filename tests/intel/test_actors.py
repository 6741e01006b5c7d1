"""Alias resolution, actor profiles and search over a built KB."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from fimiwatch.intel.actors import (
    ActorLookupError,
    alias_key,
    list_incidents,
    resolve,
    search,
    show,
)
from fimiwatch.store import Store
from tests.intel.kbstore import built_kb


@pytest.fixture(scope="module")
def kb() -> Iterator[Store]:
    with Store(built_kb()) as store:
        yield store


def test_alias_key_normalises() -> None:
    assert alias_key("Violet-Typhoon") == alias_key("violet typhoon") == "violettyphoon"
    assert alias_key("APT 31") == alias_key("apt_31") == alias_key("ＡＰＴ３１") == "apt31"
    assert alias_key("Judgment Panda!") == "judgmentpanda"
    assert alias_key("Straße") == alias_key("STRASSE")
    assert alias_key("狼毒草") == "狼毒草"
    assert alias_key(" -_. ") == ""


@pytest.mark.parametrize(
    "name", ["APT31", "judgment panda", "Violet-Typhoon", "ZIRCONIUM", "apt 31", "G0128", "TA412",
             "Bronze Vinewood", "apt31"],
)  # fmt: skip
def test_apt31_aliases_resolve(kb: Store, name: str) -> None:
    resolution = resolve(kb, name)
    assert resolution.status == "resolved"
    assert resolution.actor is not None and resolution.actor.actor_id == "apt31"


@pytest.mark.parametrize(
    "name", ["Dragonbridge", "Spamouflage", "Spamouflage Dragon", "Storm-1376", "Taizi Flood"]
)
def test_dragonbridge_is_spamouflage(kb: Store, name: str) -> None:
    resolution = resolve(kb, name)
    assert resolution.actor is not None and resolution.actor.actor_id == "dragonbridge"


def test_ambiguous_alias_lists_its_candidates(kb: Store) -> None:
    resolution = resolve(kb, "Grizzly Steppe")
    assert resolution.status == "ambiguous" and resolution.actor is None
    assert {c.actor_id for c in resolution.candidates} == {"apt28", "apt29"}
    assert resolution.to_dict()["status"] == "ambiguous"


def test_alias_that_names_one_actor_resolves_to_it(kb: Store) -> None:
    resolution = resolve(kb, "APT38")
    assert resolution.status == "resolved"
    assert resolution.actor is not None and resolution.actor.actor_id == "apt38"
    assert "lazarus-group" in {c.actor_id for c in resolution.candidates}


def test_unknown_name_gets_suggestions(kb: Store) -> None:
    resolution = resolve(kb, "Zirconum")
    assert resolution.status == "unknown"
    assert "apt31" in [s.actor_id for s in resolution.suggestions]
    assert resolve(kb, "qwertyuiop").suggestions == ()
    assert resolve(kb, "!!!").status == "unknown"
    assert resolve(kb, "apt31" * 100_000).suggestions == ()  # hostile length: no fuzzy scan


def test_suggestions_without_rapidfuzz(kb: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)
    resolution = resolve(kb, "Zirconum")
    assert "apt31" in [s.actor_id for s in resolution.suggestions]


@pytest.mark.parametrize(
    ("name", "actor_id"),
    [("APT8", "apt8"), ("Doppelgänger", "doppelganger"), ("RRN", "doppelganger"),
     ("Portal Kombat", "portal-kombat"), ("Haimai", "paperwall"), ("Storm 1516", "storm-1516"),
     ("MSS", "mss"), ("Hainan State Security Department", "hainan-ssd"), ("Leviathan", "apt40")],
)  # fmt: skip
def test_curated_actors_resolve(kb: Store, name: str, actor_id: str) -> None:
    resolution = resolve(kb, name)
    assert resolution.actor is not None and resolution.actor.actor_id == actor_id


def test_show_profile(kb: Store) -> None:
    profile = show(kb, "Judgment Panda")
    assert profile.actor["actor_id"] == "apt31" and profile.actor["attack_id"] == "G0128"
    assert [p["actor_id"] for p in profile.parents] == ["hubei-ssd", "mss"]
    assert "Violet Typhoon" in {a["alias"] for a in profile.aliases}
    assert all(t["name"] for t in profile.techniques)
    incidents = {i["incident_id"] for i in profile.incidents}
    assert {"ipac-apt31-tracking-emails-2021", "uk-parliamentarians-apt31-2021"} <= incidents
    assert {c["actor_id"] for c in show(kb, "mss").children} == {"hainan-ssd", "hubei-ssd"}
    assert next(t["technique_id"] for t in show(kb, "storm-1516").disarm).startswith("T0")
    assert profile.to_dict()["actor"]["name"] == "APT31"


def test_show_unknown_or_ambiguous_raises(kb: Store) -> None:
    with pytest.raises(ActorLookupError) as unknown:
        show(kb, "no such group at all")
    assert unknown.value.resolution.status == "unknown"
    with pytest.raises(ActorLookupError) as ambiguous:
        show(kb, "Grizzly Steppe")
    assert ambiguous.value.resolution.status == "ambiguous"


def test_search(kb: Store) -> None:
    hits = search(kb, "Spamouflage")
    assert (hits[0].kind, hits[0].id) == ("actor", "dragonbridge")
    by_technique = search(kb, "T1598.003")
    assert ("technique", "T1598.003") in {(h.kind, h.id) for h in by_technique}
    assert "apt31" in {h.id for h in by_technique if h.kind == "actor"}
    assert "ipac-apt31-tracking-emails-2021" in {h.id for h in search(kb, "IPAC")}
    assert {h.kind for h in search(kb, "persona")} >= {"technique"}
    assert search(kb, "   ") == []


def test_list_incidents_oldest_first(kb: Store) -> None:
    incidents = list_incidents(kb)
    starts = [i["date_start"] for i in incidents if i["date_start"]]
    assert starts == sorted(starts)
    assert incidents[0]["incident_id"] == "uk-eu-referendum-registration-2016"
