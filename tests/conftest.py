from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
