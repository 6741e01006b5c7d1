"""Time coordination views on an existing store: ``python bench/time_views.py STORE LIMIT VIEWS
[OUT]``.

For the 100M run, where ``bench_coordination.py``'s load-then-detect cycle is too long to repeat:
STORE is a store it (or ``fimiwatch ingest``) built, LIMIT DuckDB's memory limit (e.g. 8GB),
VIEWS a comma-separated list (e.g. co-similar). Prints seconds, edge count and peak RSS;
run it under ``/usr/bin/time -v`` for the process's full peak. With OUT, each view's edges are
written (not timed) to ``OUT/<view>.csv`` as ``source,target,weight``, the form the peer
benchmark's ``score_edges.py`` scores.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.csv as pacsv

from fimiwatch.config import Settings
from fimiwatch.detect.coordination.edges import compute_edges
from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.store import Store


def main() -> None:
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    db, limit, views = Path(sys.argv[1]), sys.argv[2], tuple(sys.argv[3].split(","))
    with Store(db, Settings(db=db, duckdb_memory_limit=limit)) as store:
        started = time.perf_counter()
        edges = compute_edges(store, CoordinationParams(views=views))
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"views {','.join(views)}: {seconds:.1f} s, {edges.num_rows} edges, peak {peak} MB")
    if len(sys.argv) == 5:
        out = Path(sys.argv[4])
        out.mkdir(parents=True, exist_ok=True)
        for view in views:
            part = edges.filter(pc.equal(edges["view"], view))
            pacsv.write_csv(part.select(["source", "target", "weight"]), out / f"{view}.csv")
            print(f"  {view}: {part.num_rows} edges -> {out / f'{view}.csv'}")


if __name__ == "__main__":
    main()
