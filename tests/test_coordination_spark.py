"""One definition, two engines: the coordination plan on Spark (local mode) returns the edges
DuckDB returns, on the same small collection."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fimiwatch.detect.coordination.edges import compute_edges
from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.detect.coordination.spark import compute_edges_spark, export_items
from tests.conftest import write_jsonl
from tests.test_coordination import PERMISSIVE, campaign, campaign_store, item

pyspark = pytest.importorskip("pyspark", reason="pyspark is a dev dependency")

EXACT = ("co-post", "co-link", "co-repost", "co-reply", "co-hashtag")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("fimiwatch-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _records() -> list[dict[str, Any]]:
    records = campaign(organic=200)
    records += [  # reposts, replies and messy links, so that every exact view has edges
        item(f"r{e}-{k}", f"echo-{k}", 200_000 + e * 3000 + k * 7, text=f"RT {e}",
             repost_of=f"orig-{e}" if k % 2 else None,
             reply_to=None if k % 2 else f"thread-{e}",
             links=[f"HTTPS://Fresh.example/{e}/?utm_source=x&id={e}#top"],
             hashtags=["EU", "#vote", f"t{e}"])
        for e in range(4) for k in range(5)
    ]  # fmt: skip
    return records


def _tied(bursts: int = 3, accounts: int = 15) -> list[dict[str, Any]]:
    """Bursts of one slogan by more accounts than ``max_neighbours`` in the same second: which
    actions follow which is decided by the tie-break alone."""
    return [
        item(f"tie{b}-{a}", f"tied-{a:02d}", 500_000 + b * 1000, text=f"the same slogan {b}")
        for b in range(bursts) for a in range(accounts)
    ]  # fmt: skip


def _both(
    tmp_path: Path, spark: Any, params: CoordinationParams, extra: tuple[dict[str, Any], ...] = ()
) -> tuple[list, list]:
    data = write_jsonl(tmp_path / "items.jsonl", _records() + list(extra))
    with campaign_store(tmp_path, data) as store:
        ours = compute_edges(store, params).to_pylist()
        parquet = tmp_path / "items.parquet"
        export_items(store.con, parquet)
    theirs = compute_edges_spark(spark, spark.read.parquet(str(parquet)), params).to_pylist()
    return ours, theirs


def _same(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    assert [(r["view"], r["source"], r["target"]) for r in theirs] == [
        (r["view"], r["source"], r["target"]) for r in ours
    ]
    for a, b in zip(ours, theirs, strict=True):
        for exact in ("weight", "first_seen", "last_seen", "examples"):
            assert a[exact] == b[exact], (exact, a, b)
        for number in ("rarity", "score", "expected"):
            assert a[number] == pytest.approx(b[number], rel=1e-9, abs=1e-9), (number, a, b)
        # epoch seconds as doubles: the engines may differ in the last bits (~1e-7 s)
        assert a["median_lag"] == pytest.approx(b["median_lag"], abs=1e-5)


@pytest.mark.timeout(600)
def test_spark_matches_duckdb_at_default_settings(tmp_path: Path, spark: Any) -> None:
    ours, theirs = _both(tmp_path, spark, CoordinationParams(views=EXACT))
    assert {r["view"] for r in ours} >= {"co-post", "co-link"}
    _same(ours, theirs)


@pytest.mark.timeout(600)
def test_spark_matches_duckdb_on_every_pair(tmp_path: Path, spark: Any) -> None:
    ours, theirs = _both(tmp_path, spark, replace(PERMISSIVE, views=EXACT))
    assert {r["view"] for r in ours} == set(EXACT)
    _same(ours, theirs)


@pytest.mark.timeout(600)
def test_spark_matches_duckdb_when_times_tie(tmp_path: Path, spark: Any) -> None:
    ours, theirs = _both(tmp_path, spark, replace(PERMISSIVE, views=EXACT), extra=tuple(_tied()))
    tied = [r for r in ours if r["source"].startswith("tied-")]
    # 15 simultaneous actions, each reaching the next 10: not every pair of the 15 meets
    assert 0 < len(tied) < 15 * 14 // 2
    _same(ours, theirs)


def test_spark_refuses_what_only_duckdb_does(spark: Any) -> None:
    with pytest.raises(ValueError, match="co-similar"):
        compute_edges_spark(spark, None, CoordinationParams())
    with pytest.raises(ValueError, match="estimate"):
        compute_edges_spark(spark, None, CoordinationParams(views=EXACT, estimate_window=True))
