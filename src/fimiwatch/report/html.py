"""A self-contained HTML brief of what the store holds and what was found.

Everything shown comes from ingested (hostile) data, so the template autoescapes and the page
loads nothing from outside itself. Narrative charts are inline SVG that matplotlib drew
(``charts.py``): the one markup not escaped, and it holds no input text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from fimiwatch.findings import FINDING_TYPES, load_findings
from fimiwatch.report.charts import daily_chart_svg
from fimiwatch.store import Store

EVIDENCE_ITEMS_SHOWN = 5
PASSAGES_SHOWN = 6
"""Aligned passages shown side by side for a laundering finding's strongest pair."""


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("fimiwatch", "report/templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


def report_context(store: Store, since: datetime | None = None) -> dict[str, Any]:
    findings = [
        f for f in load_findings(store)
        if since is None or (f["last_seen"] or "") >= since.isoformat()
    ]  # fmt: skip
    item_ids = sorted({i for f in findings for i in f["item_ids"][:EVIDENCE_ITEMS_SHOWN]})
    excerpts = {
        row["id"]: row
        for row in store.rows(
            "SELECT id, source, platform, account_name, published_at, lang, "
            "left(coalesce(title || ' — ', '') || coalesce(text, ''), 280) AS excerpt "
            "FROM items WHERE id IN (SELECT unnest(?::VARCHAR[]))",
            [item_ids],
        )
    }
    return {
        "charts": {
            f["id"]: Markup(daily_chart_svg(f["evidence"]))
            for f in findings
            if f["type"] == "narrative"
        },
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "counts": store.counts(),
        "by_type": {t: [f for f in findings if f["type"] == t] for t in FINDING_TYPES},
        "excerpts": excerpts,
        "shown": EVIDENCE_ITEMS_SHOWN,
        "passages_shown": PASSAGES_SHOWN,
        "platforms": store.rows(
            "SELECT platform, count(*) AS n FROM items GROUP BY ALL ORDER BY n DESC, platform"
        ),
        "languages": store.rows(
            "SELECT coalesce(lang, 'unknown') AS lang, count(*) AS n FROM items "
            "GROUP BY ALL ORDER BY n DESC, lang LIMIT 20"
        ),
        "ingests": store.rows(
            "SELECT input, format, records, added, duplicates, rejected FROM ingest_log "
            "ORDER BY ingest_id"
        ),
        "quarantine": store.rows(
            "SELECT regexp_replace(reason, ':.*$', '') AS reason, count(*) AS n "
            "FROM quarantine GROUP BY ALL ORDER BY n DESC, reason"
        ),
    }


def render_report(store: Store, since: datetime | None = None) -> str:
    return _environment().get_template("report.html").render(**report_context(store, since))


def write_report(store: Store, path: Path, since: datetime | None = None) -> Path:
    """The brief as HTML, or as PDF when ``path`` ends in .pdf (see ``pdf.py``)."""
    html = render_report(store, since)
    if path.suffix.lower() == ".pdf":
        from fimiwatch.report.pdf import write_pdf

        return write_pdf(html, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
