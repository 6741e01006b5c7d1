"""Analysts' narrative definitions, loaded from CSV: one example claim per row.

``narrative,name,claim,lang,threshold,keywords,notes`` — rows with the same ``narrative`` key
form one narrative; ``name``, ``threshold`` and ``keywords`` may be given on one row only.
Claims can be in any language: items are matched to them by multilingual embeddings, so one
Czech claim also finds the Slovak and English posts that make it. ``threshold`` (optional,
0–1) overrides the backend's calibrated cosine for that narrative. ``keywords`` (optional,
``;``-separated, any languages) is a guard: an item must then also contain one of them
(case-insensitive substring: ``Menšík`` matches ``#StopMenšíková``). Loading a file replaces
the narratives it names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from fimiwatch.reference_csv import ReferenceLoad, RowError, read_reference_rows, split_list
from fimiwatch.store import Store

COLUMNS = ("narrative", "name", "claim", "lang", "threshold", "keywords", "notes")
KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_CLAIM_CHARS = 1000


@dataclass(frozen=True)
class Narrative:
    key: str
    name: str
    claims: tuple[str, ...]
    threshold: float | None
    keywords: tuple[str, ...] = ()

    def mentioned_in(self, text: str) -> bool:
        """No keywords, or one of them in ``text`` (case-insensitive)."""
        folded = text.casefold()
        return not self.keywords or any(k.casefold() in folded for k in self.keywords)


def _parse(row: dict[str, str]) -> dict[str, Any]:
    key = row.get("narrative", "").lower()
    if not KEY.match(key):
        raise RowError(
            f"narrative key {key!r} must be 1–64 lower-case letters, digits, '.', '_' or '-'"
        )
    claim = " ".join(row.get("claim", "").split())
    if not claim:
        raise RowError("claim is empty")
    if len(claim) > MAX_CLAIM_CHARS:
        raise RowError(f"claim is longer than {MAX_CLAIM_CHARS} characters")
    threshold = None
    if row.get("threshold"):
        try:
            threshold = float(row["threshold"])
        except ValueError as exc:
            raise RowError(f"threshold {row['threshold']!r} is not a number") from exc
        if not 0 < threshold <= 1:
            raise RowError(f"threshold {threshold} is not within (0, 1]")
    return {
        "narrative": key,
        "name": row.get("name") or "",
        "claim": claim,
        "lang": (row.get("lang") or "").lower() or None,
        "threshold": threshold,
        "keywords": split_list(row.get("keywords", "")),
        "notes": row.get("notes") or None,
    }


def load_narratives(store: Store, path: Path) -> ReferenceLoad:
    """Load a definitions CSV; bad rows are reported with their line and quarantined."""
    rows, summary = read_reference_rows(path, ("narrative", "claim"), _parse)
    names: dict[str, str] = {}
    for row in rows:
        names.setdefault(row["narrative"], row["name"] or row["narrative"])
        if row["name"] and row["name"] != names[row["narrative"]]:
            names[row["narrative"]] = row["name"]
    unique = {(r["narrative"], r["claim"]): {**r, "name": names[r["narrative"]]} for r in rows}
    if unique:
        table = pa.Table.from_pylist(
            [{**r, "loaded_from": str(path)} for r in unique.values()],
            schema=pa.schema([
                ("narrative", pa.string()), ("name", pa.string()), ("claim", pa.string()),
                ("lang", pa.string()), ("threshold", pa.float64()),
                ("keywords", pa.list_(pa.string())), ("notes", pa.string()),
                ("loaded_from", pa.string()),
            ]),
        )  # fmt: skip
        with store.transaction() as con:
            con.register("loaded", table)
            con.execute(
                "DELETE FROM narrative_claims WHERE narrative IN (SELECT narrative FROM loaded)"
            )
            columns = ", ".join((*COLUMNS, "loaded_from"))
            con.execute(f"INSERT INTO narrative_claims ({columns}) SELECT {columns} FROM loaded")
            con.unregister("loaded")
    summary.loaded = len(unique)
    return summary


def defined_narratives(store: Store) -> list[Narrative]:
    """Every loaded narrative with its claims (sorted), in key order."""
    rows = store.rows(
        "SELECT narrative, any_value(name) AS name, list(claim ORDER BY claim) AS claims, "
        "min(threshold) AS threshold, "
        "list_sort(list_distinct(flatten(list(keywords)))) AS keywords "
        "FROM narrative_claims GROUP BY narrative ORDER BY narrative"
    )
    return [
        Narrative(
            r["narrative"], r["name"], tuple(r["claims"]), r["threshold"], tuple(r["keywords"])
        )
        for r in rows
    ]
