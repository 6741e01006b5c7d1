"""What a page draws, prepared in Python so that templates only place it: highlighted passages,
a laid-out account network, a timeline, weekly activity bars.

Shapes are emitted as numbers for SVG attributes (never inline styles or scripts), so the
strict Content-Security-Policy holds; text always goes through Jinja's escaping or
``markupsafe.escape`` here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from fimiwatch.findings import FINDING_TYPES

NETWORK_WIDTH, NETWORK_HEIGHT, NETWORK_MARGIN = 640, 420, 24
TIMELINE_WIDTH, TIMELINE_ROW, TIMELINE_LEFT = 640, 18, 150
ACTIVITY_WIDTH, ACTIVITY_HEIGHT = 640, 160
MIN_PASSAGE_CHARS = 12


def highlight(text: str | None, passages: list[str]) -> Markup:
    """``text`` escaped, with every occurrence of each passage wrapped in ``<mark>``.

    Passages are found whitespace-insensitively (alignment may have normalised spaces)."""
    text = text or ""
    spans: list[tuple[int, int]] = []
    for passage in passages:
        words = passage.split()
        if len(passage) < MIN_PASSAGE_CHARS or not words:
            continue
        pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
        spans += [(m.start(), m.end()) for m in pattern.finditer(text)]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, position = [], 0
    for start, end in merged:
        out += [escape(text[position:start]), Markup("<mark>"), escape(text[start:end]),
                Markup("</mark>")]  # fmt: skip
        position = end
    out.append(escape(text[position:]))
    return Markup("").join(out)


def network_layout(edges: list[list[Any]], names: dict[str, str]) -> dict[str, Any]:
    """Nodes with positions and edges with endpoints for an SVG of a coordinated group.

    Kamada–Kawai starts from a circle, so the same group is always drawn the same way."""
    import igraph as ig  # here, not at the top: igraph loads matplotlib

    accounts = sorted({str(a) for edge in edges for a in edge[:2]})
    if not accounts:
        return {"nodes": [], "edges": [], "views": [], "width": NETWORK_WIDTH,
                "height": NETWORK_HEIGHT}  # fmt: skip
    index = {a: i for i, a in enumerate(accounts)}
    graph = ig.Graph(n=len(accounts), edges=[(index[str(e[0])], index[str(e[1])]) for e in edges])
    coords = graph.layout_kamada_kawai().coords if len(accounts) > 1 else [[0.0, 0.0]]
    xs, ys = [c[0] for c in coords], [c[1] for c in coords]

    def scale(value: float, low: float, high: float, size: int) -> float:
        span = (high - low) or 1.0
        return round(NETWORK_MARGIN + (value - low) / span * (size - 2 * NETWORK_MARGIN), 1)

    position = {
        a: (scale(xs[i], min(xs), max(xs), NETWORK_WIDTH),
            scale(ys[i], min(ys), max(ys), NETWORK_HEIGHT))
        for a, i in index.items()
    }  # fmt: skip
    degree: dict[str, int] = defaultdict(int)
    for edge in edges:
        degree[str(edge[0])] += 1
        degree[str(edge[1])] += 1
    views = sorted({str(e[2]) for e in edges})
    return {
        "nodes": [
            {
                "id": a,
                "name": names.get(a) or a,
                "x": position[a][0],
                "y": position[a][1],
                "degree": degree[a],
            }
            for a in accounts
        ],
        "edges": [
            {
                "a": str(e[0]),
                "b": str(e[1]),
                "view": str(e[2]),
                "weight": int(e[3]),
                "x1": position[str(e[0])][0],
                "y1": position[str(e[0])][1],
                "x2": position[str(e[1])][0],
                "y2": position[str(e[1])][1],
                "view_index": views.index(str(e[2])),
            }
            for e in edges
        ],
        "views": views,
        "width": NETWORK_WIDTH,
        "height": NETWORK_HEIGHT,
    }


def timeline(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Posts as dots: one row per account, time along x, so synchronised posting shows as
    vertical stripes."""
    dated = sorted((i for i in items if i.get("published_at")), key=lambda i: i["published_at"])
    if not dated:
        return {"rows": [], "dots": [], "width": TIMELINE_WIDTH, "height": 0}
    accounts = sorted({i.get("account_name") or i.get("account_id") or "?" for i in dated})
    start: datetime = dated[0]["published_at"]
    seconds = max((dated[-1]["published_at"] - start).total_seconds(), 1.0)
    span = TIMELINE_WIDTH - TIMELINE_LEFT - 10
    dots = [
        {"x": round(TIMELINE_LEFT + (i["published_at"] - start).total_seconds() / seconds * span,
                    1),
         "y": accounts.index(i.get("account_name") or i.get("account_id") or "?")
         * TIMELINE_ROW + TIMELINE_ROW // 2 + 4,
         "item": i}
        for i in dated
    ]  # fmt: skip
    return {
        "rows": [
            {"name": a, "y": n * TIMELINE_ROW + TIMELINE_ROW // 2 + 8}
            for n, a in enumerate(accounts)
        ],
        "dots": dots,
        "start": start,
        "end": dated[-1]["published_at"],
        "width": TIMELINE_WIDTH,
        "height": len(accounts) * TIMELINE_ROW + 24,
    }


def activity_bars(activity: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacked weekly bars of new findings per type, for the overview."""
    weeks = sorted({row["week"] for row in activity})
    if not weeks:
        return {"bars": [], "weeks": [], "width": ACTIVITY_WIDTH, "height": ACTIVITY_HEIGHT}
    totals: dict[Any, int] = defaultdict(int)
    for row in activity:
        totals[row["week"]] += row["n"]
    peak = max(totals.values())
    step = (ACTIVITY_WIDTH - 40) / len(weeks)
    plot = ACTIVITY_HEIGHT - 30
    bars: list[dict[str, Any]] = []
    stacked: dict[Any, float] = defaultdict(float)
    for row in sorted(activity, key=lambda r: (r["week"], FINDING_TYPES.index(r["type"]))):
        height = row["n"] / peak * plot
        stacked[row["week"]] += height
        bars.append({"x": round(30 + weeks.index(row["week"]) * step, 1),
                     "y": round(plot - stacked[row["week"]] + 5, 1),
                     "width": round(max(step - 2, 1), 1), "height": round(height, 1),
                     "type": row["type"], "week": row["week"], "n": row["n"]})  # fmt: skip
    return {"bars": bars, "weeks": weeks, "peak": peak, "width": ACTIVITY_WIDTH,
            "height": ACTIVITY_HEIGHT, "types": FINDING_TYPES}  # fmt: skip


def fixed(value: Any, style: str = "f") -> str:
    """A number with two significant places (``"f"``: 0.87, ``"g"``: 1.7e-10); evidence from
    another detector may lack the field or hold text, which is shown as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None or not isinstance(value, str | int | float) else str(value)
    return f"{value:.2{style}}"


def percent(share: Any) -> str:
    return fixed(share * 100 if isinstance(share, int | float) else share).removesuffix(".00")


def hours(seconds: Any) -> str:
    return fixed(seconds / 3600 if isinstance(seconds, int | float) else seconds)


def defang(url: str) -> str:
    """A link shown but not clickable or auto-linked by mail clients: hxxp, [.] dots."""
    return re.sub(r"^http", "hxxp", url, flags=re.IGNORECASE).replace(".", "[.]")
