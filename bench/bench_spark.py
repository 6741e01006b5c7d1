"""The coordination plan on Spark (local mode) against DuckDB, on the benchmark's post streams.

``python bench/bench_spark.py --posts 10000000`` ingests ``bench/.data/n<posts>/posts.csv``
(the shared generator's stream, see ``bench_coordination.py``) into a fresh store (or uses
``--store``), writes the items' columns the plan reads to Parquet, then runs the four exact
views (co-post, co-link, co-repost, co-reply; co-similar is DuckDB's only) on both engines
with the default parameters and compares the edges: the same pairs and weights, rarity and
significance within 1e-9 relative. Prints one RESULT line and writes JSON next to the store.

Spark runs in local mode on ``--cores`` cores with ``--driver-memory``; its time excludes the
session's start (reported apart). Peak memory is the JVM's high-water mark (VmHWM) and the
Python process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from fimiwatch.config import Settings
from fimiwatch.detect.coordination.edges import compute_edges
from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.detect.coordination.spark import compute_edges_spark, export_items
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.store import Store

ROOT = Path(__file__).resolve().parents[1]
EXACT = ("co-post", "co-link", "co-repost", "co-reply")


def load(db: Path, posts: Path, settings: Settings) -> float:
    for stale in (db, Path(f"{db}.wal")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    with Store(db, settings) as store:
        document = open_document(str(posts), settings)
        ingest_document(store, document, choose_reader(document, "qut-csv"))
    return time.perf_counter() - started


def jvm_peak_mb(spark: Any) -> float:
    """The high-water mark of the JVM behind ``spark`` (and any process it started), in MB."""
    pid = spark.sparkContext._gateway.proc.pid
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        peak = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")]
        total += int(peak[0]) if peak else 0  # a zombie has no memory left to report
        pending += [int(c) for c in children]
    return total / 1024


def compare(ours: pa.Table, theirs: pa.Table) -> dict[str, Any]:
    """How far Spark's edges are from DuckDB's: differing pairs or weights, and the largest
    relative difference of rarity and significance over the common pairs."""

    def keyed(table: pa.Table) -> dict[tuple[str, str, str], tuple[int, float, float]]:
        rows = zip(
            *(table[c].to_pylist() for c in ("view", "source", "target", "weight")),
            table["rarity"].to_pylist(),
            table["score"].to_pylist(),
            strict=True,
        )
        return {(v, s, t): (w, r, sc) for v, s, t, w, r, sc in rows}

    a, b = keyed(ours), keyed(theirs)
    common = a.keys() & b.keys()

    def relative(i: int) -> float:
        return max(
            (abs(a[k][i] - b[k][i]) / max(abs(a[k][i]), 1e-300) for k in common), default=0.0
        )

    return {
        "duckdb_edges": len(a),
        "spark_edges": len(b),
        "only_duckdb": len(a.keys() - b.keys()),
        "only_spark": len(b.keys() - a.keys()),
        "weight_differs": sum(a[k][0] != b[k][0] for k in common),
        "rarity_max_relative": relative(1),
        "score_max_relative": relative(2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="an existing store of those posts")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work" / "spark")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--shuffle-partitions", type=int, default=64)
    parser.add_argument("--duckdb-memory-limit", default="768MB")
    args = parser.parse_args()

    work = args.work / f"n{args.posts}"
    work.mkdir(parents=True, exist_ok=True)
    db = args.store or work / "store.duckdb"
    settings = Settings(db=db, duckdb_memory_limit=args.duckdb_memory_limit)
    result: dict[str, Any] = {"posts": args.posts, "cores": args.cores}
    if args.store is None:
        posts = ROOT / "bench" / ".data" / f"n{args.posts}" / "posts.csv"
        result["loading_s"] = load(db, posts, settings)
        print(f"loading {result['loading_s']:.1f} s", flush=True)
    parquet = work / "items.parquet"
    params = CoordinationParams(views=EXACT)
    with Store(db, settings) as store:
        started = time.perf_counter()
        export_items(store.con, parquet)
        result["parquet_s"] = time.perf_counter() - started
        started = time.perf_counter()
        ours = compute_edges(store, params)
        result["duckdb_s"] = time.perf_counter() - started
    print(f"parquet {result['parquet_s']:.1f} s; duckdb {result['duckdb_s']:.1f} s", flush=True)

    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .appName("fimiwatch-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.local.dir", str(work / "spark-local"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    result["spark_start_s"] = time.perf_counter() - started
    try:
        started = time.perf_counter()
        theirs = compute_edges_spark(spark, spark.read.parquet(str(parquet)), params)
        result["spark_s"] = time.perf_counter() - started
        result["spark_jvm_peak_mb"] = jvm_peak_mb(spark)
    finally:
        spark.stop()
    result["python_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.update(compare(ours, theirs))
    (work / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
