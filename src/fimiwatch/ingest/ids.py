"""Item ids for formats whose records carry no short, stable id of their own."""

from __future__ import annotations

import hashlib

from fimiwatch.ingest.normalise import MAX_ID_CHARS


def sha256_id(content: bytes | str) -> str:
    """A content-derived id: the same input always gets the same id (re-ingest adds nothing)."""
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    return "sha256:" + hashlib.sha256(data).hexdigest()


def bounded_id(candidate: str | None, content: bytes | str) -> str:
    """``candidate`` when usable, else (missing, blank or too long to store) a content hash."""
    candidate = (candidate or "").strip()
    if candidate and len(candidate) <= MAX_ID_CHARS:
        return candidate
    return sha256_id(candidate or content)
