"""Profile triage against labelled profiles: AUC high vs low, verdict confusion, time.

    python bench/bench_recruitment.py

Two sets, reported apart: ``bench/recruitment_eval`` (12 profiles written for this benchmark,
not used to set the weights) and the demo's 11 profiles (``data/demo/truth.json``; the weights
were set on these). AUC is over high and low profiles (medium left out), from the score.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from collections import Counter
from pathlib import Path

from fimiwatch.triage.profile import triage_profiles

ROOT = Path(__file__).resolve().parents[1]
VERDICTS = ("high", "medium", "low")


def held_out() -> list[tuple[Path, str]]:
    folder = ROOT / "bench" / "recruitment_eval"
    with (folder / "labels.csv").open(encoding="utf-8") as handle:
        return [(folder / "profiles" / r["file"], r["verdict"]) for r in csv.DictReader(handle)]


def demo() -> list[tuple[Path, str]]:
    truth = json.loads((ROOT / "data" / "demo" / "truth.json").read_text())["profiles"]["files"]
    return [(ROOT / "data" / "demo" / "profiles" / f, v["verdict"]) for f, v in truth.items()]


def auc(scores: list[tuple[float, str]]) -> float:
    high = [s for s, label in scores if label == "high"]
    low = [s for s, label in scores if label == "low"]
    pairs = [(h > lo) + 0.5 * (h == lo) for h in high for lo in low]
    return sum(pairs) / len(pairs) if pairs else float("nan")


def evaluate(name: str, cases: list[tuple[Path, str]]) -> None:
    scores, confusion, times = [], Counter(), []
    for path, label in cases:
        started = time.perf_counter()
        (verdict,) = triage_profiles(path)
        times.append(time.perf_counter() - started)
        scores.append((verdict.score, label))
        confusion[(label, verdict.verdict)] += 1
    print(f"## {name}: {len(cases)} profiles")
    print(f"AUC high vs low: {auc(scores):.3f}")
    print("| label \\ verdict | high | medium | low |")
    print("|---|---:|---:|---:|")
    for label in VERDICTS:
        print(f"| {label} | {' | '.join(str(confusion[(label, v)]) for v in VERDICTS)} |")
    print(f"time per profile: median {statistics.median(times) * 1000:.2f} ms")


def main() -> None:
    evaluate("held-out set (bench/recruitment_eval)", held_out())
    evaluate("demo profiles (weights set on them)", demo())


if __name__ == "__main__":
    main()
