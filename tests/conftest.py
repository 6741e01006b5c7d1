from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

from fimiwatch.config import Settings
from fimiwatch.store import Store


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "store.duckdb")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store(settings.db, settings) as opened:
        yield opened


class DemoRun(NamedTuple):
    folder: Path
    """Where ``fimiwatch demo`` ran: the store, its quarantine file and the report."""
    db: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``fimiwatch --db demo.duckdb demo --no-serve``, run once (2–3 minutes) for every test
    that needs the demo store. Tests that change the store work on a copy of it."""
    folder = tmp_path_factory.mktemp("demo")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", "from fimiwatch.cli import main; main()",
         "--db", str(folder / "demo.duckdb"), "demo", "--no-serve"],
        cwd=folder, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"},
    )  # fmt: skip
    return DemoRun(folder, folder / "demo.duckdb", result)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def post(i: int, **fields: Any) -> dict[str, Any]:
    """A valid item record; ``fields`` override the defaults."""
    record = {
        "id": f"p{i}",
        "published_at": f"2024-05-0{1 + i % 9}T10:{i % 60:02d}:00Z",
        "text": f"post number {i}",
        "platform": "twitter",
        "account_id": f"a{i % 7}",
        "account_name": f"user{i % 7}",
    }
    record.update(fields)
    return record
