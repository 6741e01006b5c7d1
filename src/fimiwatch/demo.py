"""``fimiwatch demo``: a fresh store built from the bundled demo corpus, run end to end."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from fimiwatch.alerts import Rule, add_rule
from fimiwatch.config import Settings
from fimiwatch.detect.narratives.definitions import load_narratives
from fimiwatch.findings import load_findings
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.pipeline import (
    IngestSummary,
    choose_reader,
    expand_inputs,
    ingest_document,
    open_document,
)
from fimiwatch.intel.registry import load_sources
from fimiwatch.report.html import write_report
from fimiwatch.runner import RunSummary, ensure_reference_data, run_pipeline
from fimiwatch.store import Store
from fimiwatch.watchlist import load_watchlist

CORPUS_FOLDERS = ("social", "articles", "mail", "profiles")
"""Ingested in this order; the registry and watchlist are loaded first."""


@dataclass
class DemoResult:
    ingested: list[IngestSummary]
    run: RunSummary
    counts: dict[str, int]
    findings: list[dict[str, Any]]


def alerts_path(settings: Settings) -> Path:
    """Where the demo's alert rule (high and critical findings) writes: beside the store."""
    return settings.db.with_name(f"{settings.db.stem}-alerts.jsonl")


def demo_root() -> Path:
    """The corpus: ``$FIMIWATCH_DEMO_DATA``, else ``data/demo`` of the source checkout."""
    configured = os.environ.get("FIMIWATCH_DEMO_DATA")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2] / "data/demo"
    if not (root / "registry" / "sources.csv").is_file():
        raise ReadError(f"{root}: the demo corpus is not there (set FIMIWATCH_DEMO_DATA)")
    return root


def run_demo(settings: Settings, progress: Progress, report: Path) -> DemoResult:
    root = demo_root()
    alerts = alerts_path(settings)
    for stale in (settings.db, Path(f"{settings.db}.wal"), settings.quarantine_path, alerts):
        stale.unlink(missing_ok=True)
    with Store(settings.db, settings) as store:
        load_sources(store, root / "registry" / "sources.csv")
        ensure_reference_data(store)
        load_watchlist(store, root / "watchlist" / "watchlist.csv")
        load_narratives(store, root / "narratives" / "narratives.csv")
        add_rule(store, Rule(name="demo-high", channel="file", destination=str(alerts.resolve()),
                             min_severity="high"))  # fmt: skip
        names = list(expand_inputs([str(root / folder) for folder in CORPUS_FOLDERS]))
        files = progress.add_task("ingesting the demo corpus", total=len(names))
        ingested = []
        for name in names:
            document = open_document(name, settings)
            ingested.append(ingest_document(store, document, choose_reader(document)))
            progress.advance(files)
        tasks: dict[str, Any] = {}

        def advance(stage: str, n: int) -> None:
            tasks.setdefault(stage, progress.add_task(stage, total=None))
            progress.advance(tasks[stage], n)

        summary = run_pipeline(store, None, advance)
        write_report(store, report)
        return DemoResult(ingested, summary, store.counts(), load_findings(store))
