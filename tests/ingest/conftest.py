"""Shared helpers for the document-reader tests: run a reader, check what it yields."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import REJECT_SCHEMA, STAGED_SCHEMA, InputDocument


@dataclass
class Result:
    items: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    batches: int = 0

    def extra(self, index: int = 0) -> dict[str, Any]:
        text = self.items[index]["extra"]
        return orjson.loads(text) if text else {}


def run_reader(
    reader: Any, source: Path | bytes, settings: IngestSettings | None = None, name: str = ""
) -> Result:
    """Read a file (or in-memory bytes) to the end; every batch must match the schemas."""
    if isinstance(source, Path):
        document = InputDocument(name=name or str(source), path=source)
    else:
        document = InputDocument(name=name or "memory", content=source)
    items: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    batches = 0
    for batch in reader().read(document, settings or IngestSettings()):
        batches += 1
        assert batch.items.schema.equals(STAGED_SCHEMA)
        assert batch.rejects.schema.equals(REJECT_SCHEMA)
        items.extend(batch.items.to_pylist())
        rejects.extend(batch.rejects.to_pylist())
    for item in items:
        if item["extra"] is not None:
            assert isinstance(orjson.loads(item["extra"]), dict)
    return Result(items, rejects, batches)


@pytest.fixture(scope="session")
def read() -> Callable[..., Result]:
    return run_reader


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to open a connection or resolve a name."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
