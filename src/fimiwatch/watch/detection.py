"""What runs after a poll round that added items: detection, then alerts.

For now this is a full ``fimiwatch run`` over the store (enrich what is new, every detector
over all items, replace their findings, then send the alerts the new findings match): correct,
but its cost grows with the store, not with what is new. Incremental detection (issue 8, part
3: detectors over the new items plus the window each needs) replaces this one function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fimiwatch.store import Store

if TYPE_CHECKING:
    from fimiwatch.runner import RunSummary


def detect_after_ingest(store: Store) -> RunSummary:
    """Run the detectors over the store and send alerts for new matching findings (the run
    dispatches alerts itself: each (rule, finding) is delivered once)."""
    from fimiwatch.runner import run_pipeline

    return run_pipeline(store)
