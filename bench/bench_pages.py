"""Workspace pages and the findings API at 100,000 findings (issue 7, "paging that stays fast").

    python bench/bench_pages.py [--findings 100000] [--repeat 5]

Builds a fresh store under bench/.work/pages with synthetic findings (six types, 50 targets,
40 actors), then prints the median time of each page after one warm-up, rendered through
FastAPI's test client (no network, no sign-in). Figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from fimiwatch.config import Settings
from fimiwatch.findings import FINDING_TYPES, Finding, severity_for
from fimiwatch.runner import save_findings
from fimiwatch.store import Store
from fimiwatch.web.app import create_app

WORK = Path(__file__).resolve().parent / ".work" / "pages"
PAGES = (
    "/findings",
    "/findings?page=1500",
    "/findings?type=phishing&severity=high&sort=newest",
    "/findings?q=finding 99",
    "/findings?target=target 7&page=20",
    "/",
    "/api/findings?limit=50&offset=90000",
    "/findings/phishing-000123",
)


def build(path: Path, count: int) -> Store:
    path.unlink(missing_ok=True)
    store = Store(path, Settings(db=path))
    rng = random.Random(1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for kind in FINDING_TYPES:
        found = []
        for i in range(count // len(FINDING_TYPES)):
            score = rng.random()
            seen = start + timedelta(minutes=rng.randrange(500_000))
            found.append(Finding(
                id=f"{kind}-{i:06d}", type=kind, title=f"{kind} finding {i}", summary="x" * 200,
                score=score, severity=severity_for(score), first_seen=seen, last_seen=seen,
                targets=(f"target {i % 50}",), actors=(f"apt{i % 40}",), evidence={"k": i},
            ))  # fmt: skip
        save_findings(store, kind, found)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    store = build(WORK / "store.duckdb", args.findings)
    print(f"{store.scalar('SELECT count(*) FROM findings')} findings")
    with TestClient(create_app(store, auth=False)) as client:
        for path in PAGES:
            assert client.get(path).status_code == 200, path
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            print(f"{sorted(times)[len(times) // 2]:8.1f} ms  {path}")


if __name__ == "__main__":
    main()
