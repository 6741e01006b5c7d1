"""Knowledge-base build time and name-resolution latency, in process.

Builds the KB into fresh stores (``--builds`` times), then times ``resolve`` over a seeded mix of
lookups: exact display names, normalised variants (case, spaces, hyphens), ambiguous aliases
and unknown names (typos and gibberish, which also pay for fuzzy suggestions). Prints a Markdown
table.

    python bench/bench_kb.py --lookups 4000
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import tempfile
import time
from pathlib import Path

from fimiwatch.intel.actors import forget_index, resolve
from fimiwatch.intel.kb import ensure_kb
from fimiwatch.store import Store


def _variant(name: str, rng: random.Random) -> str:
    """The same name as a user might type it."""
    spaced = name.replace("-", " ") if "-" in name else name.replace(" ", "-")
    return rng.choice([name.lower(), name.upper(), spaced, f"  {name.swapcase()} "])


def _typo(name: str, rng: random.Random) -> str:
    position = rng.randrange(len(name))
    return name[:position] + rng.choice(string.ascii_lowercase) + name[position + 1 :]


def _lookups(store: Store, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    names = [r[0] for r in store.con.execute("SELECT name FROM kb_actors ORDER BY name").fetchall()]
    shared = [
        r[0]
        for r in store.con.execute(
            "SELECT min(alias) FROM kb_aliases GROUP BY key HAVING count(*) > 1 ORDER BY 1"
        ).fetchall()
    ]
    ambiguous = [a for a in shared if resolve(store, a).status == "ambiguous"]
    makers = {
        "exact": lambda: rng.choice(names),
        "normalised": lambda: _variant(rng.choice(names), rng),
        "ambiguous": lambda: rng.choice(ambiguous),
        "unknown": lambda: rng.choice(
            [_typo(rng.choice(names), rng), "".join(rng.choices(string.ascii_lowercase, k=9))]
        ),
    }
    kinds = list(makers)
    return [(kind, makers[kind]()) for kind in (rng.choice(kinds) for _ in range(count))]


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return at(0.50), at(0.95), at(0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--lookups", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        builds = []
        for n in range(args.builds):
            with Store(Path(tmp) / f"kb{n}.duckdb") as store:
                started = time.perf_counter()
                ensure_kb(store)
                builds.append(time.perf_counter() - started)
        with Store(Path(tmp) / "kb0.duckdb") as store:
            started = time.perf_counter()
            ensure_kb(store)
            skip = time.perf_counter() - started
            forget_index(store)
            started = time.perf_counter()
            resolve(store, "APT31")
            first = time.perf_counter() - started
            lookups = _lookups(store, args.lookups, args.seed)
            timings: dict[str, list[float]] = {}
            for kind, name in lookups:
                started = time.perf_counter()
                resolve(store, name)
                timings.setdefault(kind, []).append(time.perf_counter() - started)

    print("| step | seconds |\n|---|---|")
    print(f"| `ensure_kb` build, fresh store (median of {len(builds)}) | "
          f"{statistics.median(builds):.3f} |")  # fmt: skip
    print(f"| `ensure_kb` when current (version check only) | {skip:.4f} |")
    print(f"| first `resolve` (loads the alias index) | {first:.4f} |")
    print("\n| lookups | n | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
    every = [t for samples in timings.values() for t in samples]
    for kind, samples in [*sorted(timings.items()), ("all", every)]:
        p50, p95, p99 = _percentiles(samples)
        print(f"| {kind} | {len(samples)} | {p50:.4f} | {p95:.4f} | {p99:.4f} |")


if __name__ == "__main__":
    main()
