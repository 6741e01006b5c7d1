"""Charts of a narrative's items per day, with its surge days marked: PNG for documents, SVG
inside the self-contained HTML report and web app.

Drawn with matplotlib's Agg backend (no display, no network). The SVG carries no title (the
page around it shows the name, escaped), so its only text is dates and counts that fimiwatch
wrote, and no creation date or random ids: the same evidence gives the same bytes.
"""

from __future__ import annotations

import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

SURGE_COLOUR = "#b3261e"
BAR_COLOUR = "#5f7ea3"


def _figure(evidence: dict[str, Any], title: str | None) -> Figure:
    daily = evidence.get("daily") or []
    surge_days = {s["day"] for s in evidence.get("surges") or []}
    days = [d["day"] for d in daily]
    counts = [d["items"] for d in daily]
    figure, axes = plt.subplots(figsize=(8, 2.8), dpi=100)
    colours = [SURGE_COLOUR if d in surge_days else BAR_COLOUR for d in days]
    axes.bar(range(len(days)), counts, color=colours, width=0.85)
    step = max(1, len(days) // 10)
    axes.set_xticks(range(0, len(days), step), [d[5:] for d in days[::step]], fontsize=8)
    axes.set_ylabel("items per day", fontsize=8)
    axes.tick_params(axis="y", labelsize=8)
    if title:
        axes.set_title(title[:90], fontsize=9, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    if surge_days:
        axes.text(1.0, 1.02, "red: surge", transform=axes.transAxes, ha="right", fontsize=8,
                  color=SURGE_COLOUR)  # fmt: skip
    figure.tight_layout()
    return figure


def daily_chart_png(evidence: dict[str, Any], title: str) -> bytes:
    figure = _figure(evidence, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def daily_chart_svg(evidence: dict[str, Any]) -> str:
    """An ``<svg>`` element, deterministic, untitled, its text as text (a few kilobytes)."""
    figure = _figure(evidence, None)
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "fimiwatch"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def daily_chart_html(evidence: dict[str, Any], title: str) -> str:
    """A self-contained page: the chart and the table of counts it is drawn from."""
    surges = {s["day"]: s for s in evidence.get("surges") or []}
    rows = "".join(
        f"<tr><td>{html.escape(d['day'])}</td><td>{int(d['items'])}</td>"
        f"<td>{_surge_note(surges.get(d['day']))}</td></tr>"
        for d in evidence.get("daily") or []
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{daily_chart_svg(evidence)}"
        f"<p>{html.escape(str(evidence.get('test', '')))}</p>"
        "<table><tr><th>day (UTC)</th><th>items</th><th></th></tr>"
        f"{rows}</table></body></html>"
    )


def _surge_note(surge: dict[str, Any] | None) -> str:
    return f"surge, p = {surge['p_value']:.2g}" if surge else ""
