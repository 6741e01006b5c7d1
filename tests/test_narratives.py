"""Narratives: definitions, the surge test on series with known surges, discovery, charts, and
the detector end to end through the CLI (with the real multilingual model)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.detect.narratives.definitions import defined_narratives, load_narratives
from fimiwatch.detect.narratives.discover import communities, label
from fimiwatch.detect.narratives.params import NarrativeParams
from fimiwatch.detect.narratives.surges import find_surges
from fimiwatch.ingest.base import ReadError
from fimiwatch.report.charts import daily_chart_html, daily_chart_png, daily_chart_svg
from fimiwatch.store import Store
from tests.conftest import write_jsonl
from tests.test_cli import fimiwatch

PARAMS = NarrativeParams()

# --- surges -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_planted_surge_is_found_on_its_day_and_nothing_else(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(4, size=40).astype(float)
    counts[25] += 30
    found = find_surges(counts, PARAMS)
    assert [s.day for s in found] == [25]
    assert found[0].items == counts[25] and found[0].p_value < PARAMS.alpha / 37


def test_noise_alone_rarely_surges() -> None:
    """Bonferroni at alpha 0.01 per series: about 1 in 100 pure-noise series may flag a day."""
    rng = np.random.default_rng(11)
    flagged = sum(bool(find_surges(rng.poisson(6, size=60), PARAMS)) for _ in range(300))
    assert flagged <= 6


def test_an_overdispersed_baseline_needs_a_bigger_rise() -> None:
    """12 after 2,2,2,2,2,2,2 is a surge; 12 after bursts of 0 and 10 is not."""
    steady = np.array([2, 2, 2, 2, 2, 2, 2, 12], dtype=float)
    bursty = np.array([0, 10, 0, 10, 0, 10, 0, 12], dtype=float)
    assert [s.day for s in find_surges(steady, PARAMS)] == [7]
    assert find_surges(bursty, PARAMS) == []
    assert find_surges(steady, PARAMS)[0].test == "poisson"


def test_a_first_appearance_is_tested_against_the_floor_not_zero() -> None:
    counts = np.array([0, 0, 0, 0, 6], dtype=float)
    (surge,) = find_surges(counts, PARAMS)
    assert surge.baseline_mean == PARAMS.baseline_floor and surge.day == 4
    assert find_surges(np.array([0, 0, 0, 0, 4.0]), PARAMS) == []  # below min_surge_items


def test_days_without_enough_history_or_coverage_are_not_tested() -> None:
    assert find_surges(np.array([0, 0, 50.0]), PARAMS) == []  # 2 days of history < 3
    gap = np.array([1, 1, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 40.0])
    assert find_surges(gap, PARAMS) == []  # its window holds no covered day
    covered = np.array([1, 1, 1, np.nan, 40.0])
    assert [s.day for s in find_surges(covered, PARAMS)] == [4]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=90))
def test_surges_are_sane_on_any_series(values: list[int]) -> None:
    counts = np.array(values, dtype=float)
    for surge in find_surges(counts, PARAMS):
        assert surge.day >= PARAMS.min_baseline_days and 0 <= surge.p_value <= 1
        assert surge.items == values[surge.day] >= PARAMS.min_surge_items


# --- definitions --------------------------------------------------------------------------


def _definitions(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "narratives.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_definitions_load_and_bad_rows_are_reported_by_line(store: Store, tmp_path: Path) -> None:
    path = _definitions(tmp_path, (
        "narrative,name,claim,lang,threshold,keywords\n"
        "trojan,CIA Trojan horse,She is a CIA Trojan horse.,en,,Menšík;Mensik\n"
        "trojan,,Je to trojský kůň CIA.,cs,0.9,\n"
        "Bad Key!,x,claim,en,,\n"
        "empty,x,,en,,\n"
        "limit,x,claim,en,1.5,\n"
    ))  # fmt: skip
    loaded = load_narratives(store, path)
    assert loaded.loaded == 2
    assert [(line, reason.split(" ")[0]) for line, reason, _ in loaded.rejected] == [
        (4, "narrative"), (5, "claim"), (6, "threshold"),
    ]  # fmt: skip
    (trojan,) = defined_narratives(store)
    assert trojan.name == "CIA Trojan horse" and trojan.threshold == 0.9
    assert trojan.keywords == ("Mensik", "Menšík") and len(trojan.claims) == 2
    assert trojan.mentioned_in("#StopMENŠÍKOVÁ now") and not trojan.mentioned_in("CIA")
    # a reload replaces the narrative's claims
    load_narratives(store, _definitions(tmp_path, "narrative,claim\ntrojan,Only this claim.\n"))
    assert defined_narratives(store)[0].claims == ("Only this claim.",)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_any_definitions_file_loads_or_fails_cleanly(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "n.csv"
        path.write_text(text, encoding="utf-8")
        with Store(Path(folder) / "s.duckdb") as store:
            try:
                loaded = load_narratives(store, path)
            except ReadError:
                return
            assert loaded.loaded == len(defined_narratives(store)) or loaded.loaded >= 0


# --- discovery ----------------------------------------------------------------------------


def test_discovery_finds_the_planted_groups_and_labels_them() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((3, 64))
    vectors = np.vstack([c + 0.05 * rng.standard_normal((20, 64)) for c in centres]
                        + [rng.standard_normal((30, 64))])  # fmt: skip
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    texts = ([f"ports deal betrayal {i}" for i in range(20)]
             + [f"vaccine plot lies {i}" for i in range(20)]
             + [f"bridge collapse cover {i}" for i in range(20)]
             + [f"noise {i}" for i in range(30)])  # fmt: skip
    groups = communities(vectors, np.ones(90, dtype=bool), np.ones(90, dtype=int), PARAMS)
    planted = [set(range(k * 20, k * 20 + 20)) for k in range(3)]
    assert sorted(map(set, groups[:3]), key=min) == planted
    labelled = label(groups[:3], texts, vectors)
    assert {c.terms[0] for c in labelled} == {"ports", "vaccine", "bridge"} or all(
        len(c.terms) == 3 for c in labelled
    )
    assert all(c.key.startswith("discovered-") for c in labelled)
    again = label(communities(vectors, np.ones(90, bool), np.ones(90, int), PARAMS)[:3],
                  texts, vectors)  # fmt: skip
    assert [c.key for c in again] == [c.key for c in labelled]  # deterministic


# --- charts -------------------------------------------------------------------------------

EVIDENCE: dict[str, Any] = {
    "daily": [{"day": f"2024-05-{d:02d}", "items": d % 5, "covered": True} for d in range(1, 22)],
    "surges": [{"day": "2024-05-09", "p_value": 1e-6}],
    "test": "a <test>",
}


def test_charts_are_png_deterministic_svg_and_escaped_html() -> None:
    assert daily_chart_png(EVIDENCE, "title").startswith(b"\x89PNG")
    assert daily_chart_svg(EVIDENCE) == daily_chart_svg(EVIDENCE)
    page = daily_chart_html(EVIDENCE, "<script>alert(1)</script>")
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &lt;test&gt;" in page
    assert "surge, p = 1e-06" in page


# --- end to end ---------------------------------------------------------------------------

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SMEAR = [
    ("en", "Mensikova is a CIA Trojan horse, do not vote for her!"),
    ("cs", "Menšíková je trojský kůň CIA, nevolte ji!"),
    ("sk", "Menšíková je trójsky kôň CIA, nevoľte ju!"),
]
ORDINARY = [
    "Lovely sunny weather in Brno today, off to the park.",
    "Ceny másla v obchodech zase vzrostly, hrůza.",
    "Our hockey team won again last night, what a game!",
    "Nový most přes Vltavu otevřou až na podzim.",
    "Dnes som bežal desať kilometrov, osobný rekord.",
]


def _corpus() -> list[dict[str, Any]]:
    """14 days: ordinary chatter every day, the smear once a day, then 15 times on day 10."""
    records = []
    for day in range(14):
        for k, text in enumerate(ORDINARY):
            records.append({"id": f"o{day}-{k}", "text": text, "account_id": f"org{k}",
                            "published_at": (T0 + timedelta(days=day, hours=k)).isoformat(),
                            "platform": "twitter"})  # fmt: skip
        smears = 15 if day == 10 else 1
        for k in range(smears):
            lang, text = SMEAR[k % 3]
            at = T0 + timedelta(days=day, minutes=k)
            records.append({"id": f"s{day}-{k}", "text": text, "lang": lang,
                            "account_id": f"troll{k}", "platform": "twitter",
                            "published_at": at.isoformat()})  # fmt: skip
    return records


def test_narratives_end_to_end_through_the_cli(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "posts.jsonl", _corpus())
    _definitions(tmp_path, (
        "narrative,name,claim,lang,keywords\n"
        "trojan,Menšíková is a CIA Trojan horse,"
        "Klára Menšíková je trojský kůň CIA.,cs,Menšík;Mensik\n"
    ))  # fmt: skip
    assert fimiwatch("ingest", "posts.jsonl", cwd=tmp_path).returncode == 0
    assert fimiwatch("narratives", "load", "narratives.csv", cwd=tmp_path).returncode == 0
    run = fimiwatch("run", "--only", "narratives", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    found = fimiwatch("findings", "--type", "narrative", "--format", "jsonl", cwd=tmp_path)
    findings = [json.loads(line) for line in found.stdout.splitlines()]
    (trojan,) = [f for f in findings if f["evidence"]["narrative"] == "trojan"]
    smear_ids = {r["id"] for r in _corpus() if r["id"].startswith("s")}
    assert set(trojan["item_ids"]) == smear_ids  # all three languages, nothing ordinary
    assert [s["day"] for s in trojan["evidence"]["surges"]] == ["2024-05-11"]
    assert {b["value"] for b in trojan["evidence"]["breakdown"]["lang"]} == {"en", "cs", "sk"}
    assert trojan["evidence"]["examples"][0]["text"]
    counts = fimiwatch("narratives", "counts", "--by", "lang", "--format", "csv", cwd=tmp_path)
    assert "trojan,Menšíková is a CIA Trojan horse,2024-05-11,cs,5" in counts.stdout
    chart = fimiwatch("narratives", "chart", "trojan", "--out", "t.html", cwd=tmp_path)
    assert chart.returncode == 0 and "<svg" in (tmp_path / "t.html").read_text()
    missing = fimiwatch("narratives", "chart", "nope", "--out", "t.png", cwd=tmp_path)
    assert missing.returncode == 2 and "no narrative finding" in missing.stderr
    # a second run embeds nothing new: every text is in the cache
    with Store(tmp_path / "fimiwatch.duckdb") as store:
        cached = store.scalar("SELECT count(*) FROM embedding_cache")
    assert fimiwatch("run", "--only", "narratives", cwd=tmp_path).returncode == 0
    with Store(tmp_path / "fimiwatch.duckdb") as store:
        assert store.scalar("SELECT count(*) FROM embedding_cache") == cached
        assert store.scalar("SELECT count(DISTINCT item_id) FROM narrative_items "
                            "WHERE narrative = 'trojan'") == len(smear_ids)  # fmt: skip


def test_defined_narratives_run_incrementally_and_equal_a_batch_run(tmp_path: Path) -> None:
    """Without discovery, a round assigns only the new items; the series (which grow by the new
    days) are counted again from the stored assignments. Same findings as one batch run."""
    from fimiwatch.config import Settings
    from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
    from fimiwatch.runner import run_pipeline

    definitions = _definitions(tmp_path, (
        "narrative,name,claim,lang,keywords\n"
        "trojan,Menšíková is a CIA Trojan horse,"
        "Klára Menšíková je trojský kůň CIA.,cs,Menšík;Mensik\n"
    ))  # fmt: skip
    records = _corpus()
    by_day = [[r for r in records if r["id"].split("-")[0][1:] in days]
              for days in ({"0", "1", "2", "3", "4"}, {"5", "6", "7", "8", "9", "10"},
                           {"11", "12", "13"})]  # fmt: skip
    assert sum(map(len, by_day)) == len(records)
    results, modes = {}, []
    for name, deliveries in (("batch", [records]), ("incremental", by_day)):
        db = tmp_path / f"{name}.duckdb"
        with Store(db, Settings(db=db, detectors={"narratives": {"discover": False}})) as store:
            load_narratives(store, definitions)
            for number, delivery in enumerate(deliveries):
                path = write_jsonl(tmp_path / f"{name}-{number}.jsonl", delivery)
                document = open_document(str(path), store.settings)
                ingest_document(store, document, choose_reader(document))
                modes.append(run_pipeline(store, ["narratives"], incremental=True).modes)
            results[name] = (
                store.rows("SELECT * EXCLUDE (created_at) FROM findings ORDER BY id"),
                sorted(store.con.execute("SELECT * FROM narrative_items").fetchall()),
            )
    assert [m["narratives"] for m in modes] == ["full", "full", "incremental", "incremental"]
    assert results["incremental"] == results["batch"]
    # a round that died after storing its assignments, before saving its findings, is redone
    from fimiwatch.detect.base import Change
    from fimiwatch.detect.narratives.detector import NarrativeDetector

    db = tmp_path / "incremental.duckdb"
    with Store(db, Settings(db=db)) as store:
        again = NarrativeDetector(discover=False).update(store, Change(1, 3))
        assert again is not None and len(again.findings) == 1
        stored = sorted(store.con.execute("SELECT * FROM narrative_items").fetchall())
    assert stored == results["batch"][1]
    (trojan,) = results["batch"][0]
    assert trojan["evidence"] and len(trojan["item_ids"]) == 28
