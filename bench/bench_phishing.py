"""Email triage against labelled mail: AUC malicious vs benign, verdict confusion, time per mail.

    python bench/bench_phishing.py

Two sets, reported apart: ``bench/phishing_eval`` (25 mails written for this benchmark, not used
to set the weights) and the demo corpus's 20 mails (``data/demo/truth.json``; the weights were
set on these, so they are a training figure). AUC is over malicious and benign mails only
(suspicious ones left out), from the triage score: the chance that a random malicious mail
scores above a random benign one.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from collections import Counter
from pathlib import Path

from fimiwatch.triage.email import triage_mailbox

ROOT = Path(__file__).resolve().parents[1]


def held_out() -> list[tuple[Path, str]]:
    folder = ROOT / "bench" / "phishing_eval"
    with (folder / "labels.csv").open(encoding="utf-8") as handle:
        return [(folder / "mail" / r["file"], r["verdict"]) for r in csv.DictReader(handle)]


def demo() -> list[tuple[Path, str]]:
    truth = json.loads((ROOT / "data" / "demo" / "truth.json").read_text())["mail"]
    files = [(ROOT / "data" / "demo" / "mail" / f, v["verdict"]) for f, v in truth["files"].items()]
    return files


def auc(scores: list[tuple[float, str]]) -> float:
    bad = [s for s, label in scores if label == "malicious"]
    good = [s for s, label in scores if label == "benign"]
    pairs = [(b > g) + 0.5 * (b == g) for b in bad for g in good]
    return sum(pairs) / len(pairs) if pairs else float("nan")


def evaluate(name: str, cases: list[tuple[Path, str]], mbox: tuple[Path, list[str]] | None) -> None:
    scores, confusion, times = [], Counter(), []
    for path, label in cases:
        started = time.perf_counter()
        ((_, verdict),) = triage_mailbox(path)
        times.append(time.perf_counter() - started)
        scores.append((verdict.score, label))
        confusion[(label, verdict.verdict)] += 1
    if mbox:
        path, labels = mbox
        for (_, verdict), label in zip(triage_mailbox(path), labels, strict=True):
            scores.append((verdict.score, label))
            confusion[(label, verdict.verdict)] += 1
    print(f"## {name}: {len(scores)} mails")
    print(f"AUC malicious vs benign: {auc(scores):.3f}")
    print(f"benign called malicious: {confusion[('benign', 'malicious')]}")
    print("| label \\ verdict | malicious | suspicious | benign |")
    print("|---|---:|---:|---:|")
    for label in ("malicious", "suspicious", "benign"):
        row = [confusion[(label, v)] for v in ("malicious", "suspicious", "benign")]
        print(f"| {label} | {' | '.join(map(str, row))} |")
    print(f"time per .eml (read, parse, triage): median {statistics.median(times) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms")  # fmt: skip


def main() -> None:
    truth = json.loads((ROOT / "data" / "demo" / "truth.json").read_text())["mail"]
    inbox = ROOT / "data" / "demo" / truth["mbox"]["file"]
    labels = [m["verdict"] for m in truth["mbox"]["messages"]]
    evaluate("held-out set (bench/phishing_eval)", held_out(), None)
    evaluate("demo corpus (weights set on it)", demo(), (inbox, labels))


if __name__ == "__main__":
    main()
