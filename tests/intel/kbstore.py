"""One knowledge base built per test session, shared by the KB test modules (read-only)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from fimiwatch.intel.kb import ensure_kb
from fimiwatch.store import Store


@cache
def built_kb() -> Path:
    """Path of a store holding a freshly built KB; the store is closed so any test can open it."""
    directory = Path(tempfile.mkdtemp(prefix="fimiwatch-kb-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "kb.duckdb"
    with Store(path) as store:
        ensure_kb(store)
    return path
