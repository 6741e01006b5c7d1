"""What runs after a poll round that added items: incremental detection, then alerts.

Each detector examines only what is new plus the window it needs, or runs in full where its
statistics are corpus-wide (``Detector.update``, ``runner.run_pipeline``): the findings equal a
batch ``fimiwatch run`` over the same store. The run then sends the alerts the new findings
match, each (rule, finding) once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fimiwatch.store import Store

if TYPE_CHECKING:
    from fimiwatch.runner import RunSummary


def detect_after_ingest(store: Store) -> RunSummary:
    """Bring every detector's findings up to date with the store, then dispatch alerts."""
    from fimiwatch.runner import run_pipeline

    return run_pipeline(store, incremental=True)
