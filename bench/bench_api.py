"""REST API latency under concurrent clients: findings list and finding detail, p50/p95/p99.

    python bench/bench_api.py --store STORE.duckdb [--findings 10000] [--clients 20]
                              [--seconds 20] [--modes mix,list,detail]

STORE is a store with the items (e.g. the 1M-post store ``bench_coordination.py`` builds under
``bench/.work/coordination/n1000000``); it is copied, ``--findings`` synthetic findings are
added to the copy (types, severities, targets and item ids drawn at random, seeded), and
``fimiwatch serve`` answers on loopback while ``--clients`` concurrent connections of the load
tool ``wrk`` (``apt-get install wrk``; script ``bench_api.lua``) send requests for
``--seconds``: in mode ``mix`` alternating a findings page (random type, target and severity
filters and offsets) and a finding's detail, in ``list`` and ``detail`` only those. Without
wrk on PATH, asyncio httpx clients send ``--requests`` each (the mix; they cost the server's
CPU more). Goal (issue 7): p95 < 100 ms with 1M items and 10k findings, 20 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
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
LUA = Path(__file__).with_name("bench_api.lua")


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


def with_httpx(url: str, token: str, ids: list[str], clients: int, requests: int) -> dict:
    asyncio.run(load(url, token, ids, 2, 5))  # warm-up
    started = time.perf_counter()
    latencies = sorted(asyncio.run(load(url, token, ids, clients, requests)))
    wall = time.perf_counter() - started

    def at(share: float) -> float:
        return latencies[int(share * (len(latencies) - 1))] * 1000

    return {"requests": len(latencies), "seconds": wall, "errors": 0, "p50_ms": at(0.5),
            "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": latencies[-1] * 1000}  # fmt: skip


def with_wrk(url: str, token: str, ids_file: Path, clients: int, seconds: int, mode: str) -> dict:
    command = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "-s", str(LUA), url,
               "--", token, str(ids_file), mode]  # fmt: skip
    warm = [*command[:3], "-d3s", *command[4:]]
    subprocess.run(warm, check=True, capture_output=True, text=True)
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    if result["errors"]:
        raise SystemExit(f"{mode}: {result['errors']} requests failed")
    return result


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20, help="per mode, with wrk")
    parser.add_argument("--modes", default="mix,list,detail", help="with wrk")
    parser.add_argument("--requests", type=int, default=50, help="per client, without wrk")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "api.duckdb"
        shutil.copy(args.store, db)
        with Store(db) as store:
            items = store.scalar("SELECT count(*) FROM items")
            ids = add_findings(store, args.findings)
            token = add_user(store, "bench", "viewer")
        ids_file = Path(folder) / "ids.txt"
        ids_file.write_text("\n".join(ids) + "\n")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-c", "from fimiwatch.cli import main; main()", "--db", str(db),
             "serve", "--port", str(port)],
            env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        load_before = os.getloadavg()[0]
        try:
            for _ in range(200):
                try:
                    httpx.get(f"{url}/openapi.json", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            if wrk:
                for mode in args.modes.split(","):
                    results[mode] = with_wrk(url, token, ids_file, args.clients, args.seconds,
                                             mode)  # fmt: skip
            else:
                print("wrk is not on PATH: httpx clients instead (apt-get install wrk)")
                results["mix"] = with_httpx(url, token, ids, args.clients, args.requests)
            rss = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"{items:,} items, {args.findings:,} findings, {args.clients} concurrent clients "
          f"({'wrk' if wrk else 'httpx'}), server peak RSS {rss:.0f} MB, "
          f"load average before {load_before:.2f}")  # fmt: skip
    for mode, result in results.items():
        rate = result["requests"] / result["seconds"]
        print(f"  {mode:6s} {result['requests']:6,} requests in {result['seconds']:.1f} s "
              f"({rate:.0f}/s): p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
