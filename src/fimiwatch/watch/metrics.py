"""Prometheus metrics of the monitor, in a registry of its own (served at ``/metrics``).

Counters are labelled by watched-source name; the process collector adds
``process_cpu_seconds_total`` and ``process_resident_memory_bytes``.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

PREFIX = "fimiwatch_watch"
_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class WatchMetrics:
    """Every metric the monitor exports; see docs/watch.md for the list."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.polls = Counter(
            f"{PREFIX}_polls", "Polls of a source by result: modified, not_modified (a 304), "
            "unchanged (same body), error.", ["source", "result"], registry=r,
        )  # fmt: skip
        self.fetch_errors = Counter(
            f"{PREFIX}_fetch_errors", "Failed fetches or reads, by what failed: source (the "
            "feed, page or folder itself), article, file.", ["source", "what"], registry=r,
        )  # fmt: skip
        self.items_ingested = Counter(
            f"{PREFIX}_items_ingested", "Items added to the store.", ["source"], registry=r
        )
        self.articles = Counter(
            f"{PREFIX}_articles_ingested", "Article pages fetched and ingested.", ["source"],
            registry=r,
        )  # fmt: skip
        self.files = Counter(
            f"{PREFIX}_files_ingested", "Folder files ingested.", ["source"], registry=r
        )
        self.failures = Gauge(
            f"{PREFIX}_source_failures", "Consecutive failed polls of a source (0: healthy).",
            ["source"], registry=r,
        )  # fmt: skip
        self.next_due = Gauge(
            f"{PREFIX}_source_next_poll_timestamp_seconds", "When a source is polled next.",
            ["source"], registry=r,
        )  # fmt: skip
        self.rounds = Counter(f"{PREFIX}_rounds", "Poll rounds.", registry=r)
        self.round_seconds = Histogram(
            f"{PREFIX}_round_seconds", "Time of one poll round (fetch, ingest; not detection).",
            buckets=_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.last_round = Gauge(
            f"{PREFIX}_last_round_timestamp_seconds", "When the last poll round ended.", registry=r
        )
        self.detection_runs = Counter(
            f"{PREFIX}_detection_runs", "Detection runs after rounds that added items.", registry=r
        )
        self.detection_seconds = Histogram(
            f"{PREFIX}_detection_seconds", "Time of one detection run (enrich, every detector, "
            "alerts).", buckets=_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.detector_seconds = Histogram(
            f"{PREFIX}_detector_run_seconds", "Time of one detector's run, by how it ran "
            "(full, incremental, unchanged).", ["detector", "mode"],
            buckets=_SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.findings = Gauge(
            f"{PREFIX}_detector_findings", "A detector's findings after its last run.",
            ["detector"], registry=r,
        )  # fmt: skip
        self.alert_deliveries = Counter(
            "fimiwatch_alert_deliveries", "Alert delivery attempts by channel and outcome: "
            "delivered, retry, failed.", ["channel", "outcome"], registry=r,
        )  # fmt: skip

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
