"""Time coordination views on an existing store: ``python bench/time_views.py STORE LIMIT VIEWS``.

For the 100M run, where ``bench_coordination.py``'s load-then-detect cycle is too long to repeat:
STORE is a store it (or ``fimiwatch ingest``) built, LIMIT DuckDB's memory limit (e.g. 8GB),
VIEWS a comma-separated list (e.g. co-similar). Prints seconds, edge count and peak RSS;
run it under ``/usr/bin/time -v`` for the process's full peak.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from fimiwatch.config import Settings
from fimiwatch.detect.coordination.edges import compute_edges
from fimiwatch.detect.coordination.params import CoordinationParams
from fimiwatch.store import Store


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    db, limit, views = Path(sys.argv[1]), sys.argv[2], tuple(sys.argv[3].split(","))
    with Store(db, Settings(db=db, duckdb_memory_limit=limit)) as store:
        started = time.perf_counter()
        edges = compute_edges(store, CoordinationParams(views=views))
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"views {','.join(views)}: {seconds:.1f} s, {edges.num_rows} edges, peak {peak} MB")


if __name__ == "__main__":
    main()
