"""Downloads from the workspace: findings as CSV, coordination networks as GEXF, built from what
the detectors stored (the web app never runs a detector)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import networkx as nx

FINDING_CSV_COLUMNS = (
    "id", "type", "severity", "score", "status", "tlp", "title", "first_seen", "last_seen",
    "targets", "actors", "source_ids", "langs", "countries", "disarm", "attack", "item_ids",
)  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    text = str(value)
    # a cell starting with = + - @ is a formula to spreadsheet programs: defuse it
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def findings_csv(findings: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FINDING_CSV_COLUMNS)
    for finding in findings:
        writer.writerow([_cell(finding.get(column)) for column in FINDING_CSV_COLUMNS])
    return out.getvalue()


def coordination_graph(findings: Iterable[dict[str, Any]]) -> nx.MultiGraph:
    """Accounts and the co-action edges that coordination findings keep as evidence
    (``[account, account, view, weight]``), each account labelled with its group."""
    graph = nx.MultiGraph()
    for finding in findings:
        for source, target, view, weight in finding["evidence"].get("edges", []):
            for node in (source, target):
                graph.add_node(str(node), label=str(node), group=finding["id"])
            graph.add_edge(str(source), str(target), key=str(view), view=str(view),
                           weight=int(weight), finding=finding["id"])  # fmt: skip
    return graph


def gexf(graph: nx.MultiGraph) -> bytes:
    out = io.BytesIO()
    nx.write_gexf(graph, out)
    return out.getvalue()
