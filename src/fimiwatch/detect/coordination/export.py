"""Write the coordination network for Gephi (GEXF), other graph tools (GraphML) or tables (CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import pyarrow as pa
import pyarrow.csv as pacsv

FORMATS = (".gexf", ".graphml", ".csv")


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """Edge attributes as plain scalars (graph formats hold no lists or timestamps)."""
    return {
        "view": row["view"],
        "weight": int(row["weight"]),
        "rarity": round(float(row["rarity"]), 4),
        "score": round(float(row["score"]), 4),
        "median_lag_seconds": float(row["median_lag"]),
        "first_seen": row["first_seen"].isoformat(),
        "last_seen": row["last_seen"].isoformat(),
        "example_items": " ".join("|".join(pair) for pair in row["examples"]),
    }


def write_network(edges: pa.Table, path: Path) -> int:
    """Write ``edges`` (from ``compute_edges``) to ``path``; the suffix picks the format."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: choose an output ending in {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        _flat(row) | {"source": row["source"], "target": row["target"]} for row in edges.to_pylist()
    ]
    if suffix == ".csv":
        columns = ["source", "target", "view", "weight", "rarity", "score",
                   "median_lag_seconds", "first_seen", "last_seen", "example_items"]  # fmt: skip
        table = pa.Table.from_pylist(rows, schema=pa.schema(
            [(c, pa.string()) for c in ("source", "target", "view")]
            + [("weight", pa.int64()), ("rarity", pa.float64()), ("score", pa.float64()),
               ("median_lag_seconds", pa.float64())]
            + [(c, pa.string()) for c in ("first_seen", "last_seen", "example_items")]
        ))  # fmt: skip
        pacsv.write_csv(table.select(columns), path)
        return len(rows)
    graph = nx.MultiGraph()
    for row in rows:
        graph.add_node(row["source"], label=row["source"])
        graph.add_node(row["target"], label=row["target"])
        attributes = {k: v for k, v in row.items() if k not in ("source", "target")}
        graph.add_edge(row["source"], row["target"], key=row["view"], **attributes)
    if suffix == ".gexf":
        nx.write_gexf(graph, path)
    else:
        nx.write_graphml(graph, path)
    return len(rows)
