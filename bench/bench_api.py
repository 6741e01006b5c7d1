"""REST API latency under concurrent clients: findings list and finding detail, p50/p95.

    python bench/bench_api.py --store STORE.duckdb [--findings 10000] [--clients 20]

STORE is a store with the items (e.g. the 1M-post store ``bench_coordination.py`` builds under
``bench/.work/coordination/n1000000``); it is copied, ``--findings`` synthetic findings are
added to the copy (types, severities, targets and item ids drawn at random, seeded), and
``fimiwatch serve`` answers on loopback while ``--clients`` concurrent clients (httpx, asyncio)
send ``--requests`` requests each, alternating a findings page (random filters and offsets) and
a finding's detail. Goal (issue 7): p95 < 100 ms with 1M items and 10k findings, 20 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from fimiwatch.findings import FINDING_TYPES, Finding, severity_for
from fimiwatch.runner import save_findings
from fimiwatch.store import Store
from fimiwatch.web.users import add_user

TARGETS = ("Klára Menšíková", "Vojtěch Šimánek", "Radim Kovanda", "European Parliament")


def add_findings(store: Store, count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    item_ids = [r[0] for r in store.con.execute(
        "SELECT id FROM items USING SAMPLE 20000 ROWS (reservoir, 7)").fetchall()]  # fmt: skip
    start = datetime(2024, 5, 1, tzinfo=UTC)
    findings = []
    for n in range(count):
        score = round(rng.random(), 4)
        seen = start + timedelta(minutes=rng.randrange(60 * 24 * 60))
        findings.append(Finding(
            id=f"bench-{n:06d}", type=rng.choice(FINDING_TYPES), title=f"finding {n}",
            summary=f"synthetic finding {n} for the latency benchmark", score=score,
            severity=severity_for(score), first_seen=seen, last_seen=seen + timedelta(hours=2),
            item_ids=tuple(rng.sample(item_ids, 20)), targets=(rng.choice(TARGETS),),
            evidence={"items": [{"item_id": i, "note": "x" * 40}
                                for i in rng.sample(item_ids, 50)]},
        ))  # fmt: skip
    save_findings(store, "bench", findings)
    return [f.id for f in findings]


async def client(url: str, token: str, ids: list[str], requests: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    latencies = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        for n in range(requests):
            if n % 2:
                path, params = f"/api/findings/{rng.choice(ids)}", {}
            else:
                params = {"limit": 50, "offset": rng.randrange(0, 5000, 50)}
                if rng.random() < 0.5:
                    params["type"] = rng.choice(FINDING_TYPES)
                if rng.random() < 0.3:
                    params["target"] = rng.choice(TARGETS)
                if rng.random() < 0.3:
                    params["severity"] = "high"
                path = "/api/findings"
            started = time.perf_counter()
            response = await http.get(path, params=params)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
    return latencies


async def load(url: str, token: str, ids: list[str], clients: int, requests: int) -> list[float]:
    results = await asyncio.gather(*(client(url, token, ids, requests, seed)
                                     for seed in range(clients)))  # fmt: skip
    return [latency for part in results for latency in part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "api.duckdb"
        shutil.copy(args.store, db)
        with Store(db) as store:
            items = store.scalar("SELECT count(*) FROM items")
            ids = add_findings(store, args.findings)
            token = add_user(store, "bench", "viewer")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-c", "from fimiwatch.cli import main; main()", "--db", str(db),
             "serve", "--port", str(port)],
            env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.get(f"{url}/openapi.json", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            asyncio.run(load(url, token, ids, 2, 5))  # warm-up
            started = time.perf_counter()
            latencies = asyncio.run(load(url, token, ids, args.clients, args.requests))
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=10)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"{items:,} items, {args.findings:,} findings, {args.clients} clients, "
          f"{len(latencies)} requests in {wall:.1f} s ({len(latencies) / wall:.0f}/s): "
          f"p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
