"""The targeting detector: channels, smear framing, declined names, and the demo's target."""

from __future__ import annotations

from pathlib import Path

import pytest

from fimiwatch.detect.targeting import SMEAR, TargetingDetector
from fimiwatch.enrich.mentions import link_mentions
from fimiwatch.findings import Finding
from fimiwatch.runner import save_findings
from fimiwatch.store import Store
from tests.conftest import post
from tests.test_mentions import ingest


def setup(store: Store, tmp_path: Path) -> None:
    store.con.executemany(
        "INSERT INTO watchlist (kind, name, aliases, domains) VALUES (?, ?, ?, ?)",
        [("person", "Klára Menšíková", ["Menšíková"], []),
         ("person", "Vojtěch Šimánek", ["Šimánek"], []),
         ("person", "Lenka Dobešová", ["Dobešová"], [])],
    )  # fmt: skip
    store.con.executemany(
        "INSERT INTO sources (source, name, affiliation) VALUES (?, ?, ?)",
        [("cri-cz", "CRI Czech", "state_media"), ("local", "Local news", "independent")],
    )
    ingest(store, tmp_path, [
        post(1, id="s1", source="cri-cz", text="Klára Menšíková je trojský kůň CIA."),
        post(2, id="s2", source="cri-cz", text="Rozhovor s Vojtěchem Šimánkem o obchodu."),
        post(3, id="t1", account_id="troll-1", text="Nevolte Kláru Menšíkovou, americkou loutku!"),
        post(4, id="o1", source="local", text="Lenka Dobešová zahájila výstavu."),
    ])  # fmt: skip
    save_findings(store, "coordination", [Finding(
        id="c1", type="coordination", title="group", summary="", score=0.9, severity="high",
        account_ids=("troll-1",),
    )])  # fmt: skip
    link_mentions(store)


def test_targets_named_by_channels_and_smear_raises_the_score(store: Store, tmp_path: Path) -> None:
    setup(store, tmp_path)
    findings = {f.targets[0]: f for f in TargetingDetector().run(store)}
    assert set(findings) == {"Klára Menšíková", "Vojtěch Šimánek"}  # Dobešová: no channel
    klara, vojtech = findings["Klára Menšíková"], findings["Vojtěch Šimánek"]
    assert klara.evidence["channels"] == {"coordinated": 1, "state": 1}
    assert set(klara.item_ids) == {"s1", "t1"}  # "Kláru Menšíkovou": a declined form
    assert klara.evidence["smear_terms"] == {"puppet": 1, "trojan horse": 1}
    assert vojtech.evidence["smear_items"] == 0 and vojtech.item_ids == ("s2",)
    assert klara.score > vojtech.score
    assert klara.title.endswith("with smear framing") and klara.severity in {"high", "critical"}


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("She is a Trojan horse for Washington", "trojan horse"),
        ("trójsky kôň Bruselu", "trojan horse"),
        ("ein trojanisches Pferd", "trojan horse"),
        ("agentka CIA", "CIA agent"),
        ("americká loutka", "puppet"),
        ("une marionnette de Washington", "puppet"),
        ("zrádkyně národa", "traitor"),
        ("Verräter!", "traitor"),
    ],
)
def test_smear_lexicon(text: str, label: str) -> None:
    assert SMEAR[label].search(text)


@pytest.mark.parametrize("text", ["The CIA published a report.", "A horse race in Pardubice.",
                                  "The agent signed the contract."])  # fmt: skip
def test_neutral_text_is_not_smear(text: str) -> None:
    assert not any(pattern.search(text) for pattern in SMEAR.values())
