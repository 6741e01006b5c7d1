"""Small reference tables loaded from CSV (source registry, watchlist): strict, line-precise.

These files are short and hand-edited, so they are read with the csv module; a bad row is
reported with its line and reason and quarantined, and the good rows still load.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fimiwatch.ingest.base import ReadError

MAX_REFERENCE_BYTES = 16 * 1024 * 1024


class RowError(ValueError):
    """One row is invalid; the message says why."""


@dataclass
class ReferenceLoad:
    path: str
    loaded: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    """(line, reason, raw row) for each rejected row."""


def read_reference_rows(
    path: Path, required: tuple[str, ...], parse: Callable[[dict[str, str]], dict[str, Any]]
) -> tuple[list[dict[str, Any]], ReferenceLoad]:
    """Parse every row with ``parse``; collect rows that fail with their line and reason."""
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    data = path.read_bytes()
    if len(data) > MAX_REFERENCE_BYTES:
        raise ReadError(f"{path}: larger than {MAX_REFERENCE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in required if name not in header]
    if missing:
        raise ReadError(f"{path}: line 1: missing required columns: {', '.join(missing)}")
    reader.fieldnames = header
    summary = ReferenceLoad(str(path))
    rows: list[dict[str, Any]] = []
    for line, raw in _numbered(reader):
        try:
            if None in raw:
                raise RowError("more fields than the header has columns")
            cleaned = {k: (v or "").strip() for k, v in raw.items()}
            rows.append(parse(cleaned))
        except (RowError, csv.Error) as exc:
            summary.rejected.append((line, str(exc), ",".join(map(str, raw.values()))))
    summary.loaded = len(rows)
    return rows, summary


def _numbered(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        yield reader.line_num, row


def split_list(value: str) -> list[str]:
    """``a;b; c`` → ``["a", "b", "c"]`` (reference files separate lists with semicolons)."""
    return [part.strip() for part in value.split(";") if part.strip()]
