"""Incremental detection (``run --incremental``, what ``fimiwatch watch`` runs after each round)
gives the same findings as a batch run over the same data."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fimiwatch.cli import app
from fimiwatch.config import Settings
from fimiwatch.demo import CORPUS_FOLDERS, demo_root
from fimiwatch.detect.narratives.definitions import load_narratives
from fimiwatch.ingest.pipeline import choose_reader, expand_inputs, ingest_document, open_document
from fimiwatch.intel.registry import load_sources
from fimiwatch.runner import ensure_reference_data, run_pipeline
from fimiwatch.store import Store, sql_literal
from fimiwatch.watchlist import load_watchlist
from tests.conftest import DemoRun, post, write_jsonl

FINDING_COLUMNS = (
    "id, type, detector, title, summary, score, severity, first_seen, last_seen, item_ids, "
    "account_ids, source_ids, targets, actors, disarm, attack, evidence"
)


def _findings(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.rows(f"SELECT {FINDING_COLUMNS} FROM findings ORDER BY id")
    return {row["id"]: row for row in rows}


def _table(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return sorted(store.con.execute(sql).fetchall(), key=repr)


def test_incremental_runs_over_the_demo_in_three_deliveries_equal_the_batch_demo(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    assert demo_run.result.returncode == 0, demo_run.result.stderr
    batch_copy = tmp_path / "batch.duckdb"
    shutil.copy(demo_run.db, batch_copy)
    root = demo_root()
    names = list(expand_inputs([str(root / folder) for folder in CORPUS_FOLDERS]))
    # social and the article archive; then feeds, pages and half the mail; then the rest
    deliveries = [names[:5], names[5:19], names[19:]]
    settings = Settings(db=tmp_path / "incremental.duckdb")
    modes = []
    with Store(settings.db, settings) as store:
        load_sources(store, root / "registry" / "sources.csv")
        ensure_reference_data(store)
        load_watchlist(store, root / "watchlist" / "watchlist.csv")
        load_narratives(store, root / "narratives" / "narratives.csv")
        # the batch store's embeddings, so that this test embeds nothing (they are keyed by
        # content hash and model: a cache, not a result)
        store.con.execute(f"ATTACH {sql_literal(str(batch_copy))} AS batch (READ_ONLY)")
        store.con.execute("INSERT INTO embedding_cache SELECT * FROM batch.embedding_cache")
        store.con.execute("DETACH batch")
        for delivery in deliveries:
            for name in delivery:
                document = open_document(name, settings)
                ingest_document(store, document, choose_reader(document))
            modes.append(run_pipeline(store, incremental=True).modes)
        modes.append(run_pipeline(store, incremental=True).modes)
        incremental = _findings(store)
        facets = _table(store, "SELECT * FROM finding_facets")
        narrative_items = _table(store, "SELECT * FROM narrative_items")
    with Store(batch_copy, settings) as batch:
        expected = _findings(batch)
        assert facets == _table(batch, "SELECT * FROM finding_facets")
        assert narrative_items == _table(batch, "SELECT * FROM narrative_items")
    assert len(expected) > 50
    assert sorted(incremental) == sorted(expected)
    for key, row in expected.items():
        assert incremental[key] == row, key
    # the first delivery finds no state: everything runs in full
    assert set(modes[0].values()) == {"full"}
    # new mail is judged on its own; targeting recomputes only the targets concerned
    assert modes[1]["phishing"] == modes[2]["phishing"] == "incremental"
    assert modes[1]["targeting"] == "incremental"
    # new articles: only the candidates they can change are examined
    assert modes[1]["laundering"] == "incremental", modes
    # mail and profiles are no articles: laundering stands; new profiles regroup campaigns
    assert modes[2]["laundering"] == "unchanged", modes
    assert modes[2]["recruitment"] == "full", modes
    # mail senders act too: their posts are keyed, and only the keys they touch ranked again
    assert modes[1]["coordination"] == modes[2]["coordination"] == "incremental", modes
    assert set(modes[3].values()) == {"unchanged"}


def test_changed_reference_data_means_a_full_run(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [post(i) for i in range(5)])
    runner = CliRunner()
    db = ["--db", str(tmp_path / "s.duckdb")]
    assert runner.invoke(app, [*db, "ingest", str(tmp_path / "a.jsonl")]).exit_code == 0
    first = runner.invoke(app, [*db, "run", "--incremental"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*db, "run", "--incremental"])
    assert "unchanged" in again.output and "full" not in again.output
    watchlist = tmp_path / "watchlist.csv"
    watchlist.write_text("kind,name,aliases,country\nperson,Jana Nováková,,CZ\n")
    assert runner.invoke(app, [*db, "watchlist", "load", str(watchlist)]).exit_code == 0
    after = runner.invoke(app, [*db, "run", "--incremental"])
    assert after.exit_code == 0, after.output
    assert "unchanged" not in after.output and "full" in after.output


@pytest.mark.parametrize("only", ["targeting", "laundering"])
def test_a_dependent_that_missed_its_upstream_changes_runs_in_full(store: Store, only: str) -> None:
    from fimiwatch.findings import Finding
    from fimiwatch.runner import save_findings

    write_jsonl(store.path.parent / "a.jsonl", [post(i) for i in range(5)])
    document = open_document(str(store.path.parent / "a.jsonl"), store.settings)
    ingest_document(store, document, choose_reader(document))
    assert set(run_pipeline(store, incremental=True).modes.values()) == {"full"}
    # laundering's findings change in a run that leaves targeting out
    save_findings(store, "laundering", [
        Finding("laundering-x", "laundering", "t", "s", 0.5, "medium", item_ids=("p1",)),
    ])  # fmt: skip
    modes = run_pipeline(store, ["targeting"], incremental=True).modes
    assert modes == {"targeting": "full"}
    assert run_pipeline(store, [only], incremental=True).modes == {only: "unchanged"}


def test_detectors_run_after_those_whose_findings_they_read() -> None:
    from fimiwatch.runner import select_detectors

    names = [cls.name for cls in select_detectors(["targeting", "phishing", "laundering"])]
    assert names == ["phishing", "laundering", "targeting"]
    everything = [cls.name for cls in select_detectors(None)]
    assert everything.index("targeting") > max(
        everything.index("laundering"), everything.index("coordination")
    )
