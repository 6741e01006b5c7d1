"""Ingest throughput and peak memory on 1M posts (items JSONL and QUT CSV).

Data: the shared seeded generator (../shared/bench/peer_coordination/gen_stream.py) writes the
QUT CSV; the same posts are converted to items JSONL, so both formats carry identical content.
Each measurement runs in a fresh process against a fresh store, and reports wall time and the
process's peak RSS (which includes DuckDB's native memory).

    python bench/bench_ingest.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT.parent / "shared" / "bench" / "peer_coordination" / "gen_stream.py"

CHILD = """
import json, resource, sys, time
from pathlib import Path
from fimiwatch.config import Settings
from fimiwatch.store import Store
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
settings = Settings(db=Path(sys.argv[1]))
runs = []
with Store(settings.db, settings) as store:
    for repeat in range(int(sys.argv[4])):
        started = time.perf_counter()
        document = open_document(sys.argv[2], settings)
        summary = ingest_document(store, document, choose_reader(document, sys.argv[3]))
        runs.append({"seconds": time.perf_counter() - started, "added": summary.added,
                     "duplicates": summary.duplicates, "rejected": summary.rejected,
                     "records": summary.records})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps({"runs": runs, "peak_mb": peak}))
"""


def generate(rows: int, folder: Path) -> tuple[Path, Path]:
    csv_path, jsonl_path = folder / "posts.csv", folder / "items.jsonl"
    if not csv_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, str(GENERATOR), "--posts", str(rows), "--out", str(folder)],
            check=True,
        )
    if not jsonl_path.exists():
        con = duckdb.connect()
        con.execute(
            f"""COPY (
                SELECT CAST(id AS VARCHAR) AS id, CAST(timestamp AS BIGINT) AS published_at,
                    text, 'twitter' AS platform, CAST(user_id AS VARCHAR) AS account_id,
                    username AS account_name, urls AS links,
                    CAST(repost_of AS VARCHAR) AS repost_of, CAST(reply_to AS VARCHAR) AS reply_to
                FROM read_json('{folder / "posts.jsonl"}', format='newline_delimited')
            ) TO '{jsonl_path}' (FORMAT json)"""
        )
    return jsonl_path, csv_path


def measure(path: Path, fmt: str, work: Path, repeats: int) -> dict[str, object]:
    db = work / f"{fmt}.duckdb"
    for stale in (db, Path(f"{db}.wal"), db.with_suffix(".quarantine.jsonl")):
        stale.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), str(path), fmt, str(repeats)],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    result_line = [s for s in out.stdout.splitlines() if s.startswith("RESULT ")][-1]
    return json.loads(result_line.removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data")
    parser.add_argument("--repeats", type=int, default=2, help="ingests of the same file")
    args = parser.parse_args()
    folder = args.data / f"n{args.rows}"
    jsonl_path, csv_path = generate(args.rows, folder)
    print("| format | rows | first ingest s | rows/s | re-ingest s | peak RSS MB | file MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for fmt, path in (("items-jsonl", jsonl_path), ("qut-csv", csv_path)):
        result = measure(path, fmt, folder, args.repeats)
        first, *rest = result["runs"]
        again = f"{rest[0]['seconds']:.2f}" if rest else "–"
        print(
            f"| {fmt} | {first['records']:,} | {first['seconds']:.2f} | "
            f"{first['records'] / first['seconds']:,.0f} | {again} | {result['peak_mb']:.0f} | "
            f"{path.stat().st_size / 2**20:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
