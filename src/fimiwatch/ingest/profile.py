"""Profile JSON (DESIGN.md, "Profiles") for recruitment-approach triage: one object, a list of
objects, or JSON Lines of objects.

A profile is an item so it can be stored, searched and linked to findings like any other; the
whole validated profile travels in ``extra["profile"]`` for the recruitment detector. Profiles
have no publication time, so ``created_at`` (the account's creation date) stands in when given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, ClassVar

import orjson

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import Batch, InputDocument, ReadError, make_batch
from fimiwatch.ingest.jsondoc import JsonTooDeep, loads_bounded

ROWS_PER_BATCH = 5000
_TEXT_KEYS = ("platform", "name", "headline", "location")
_COUNT_KEYS = ("connections", "followers")
_LIST_KEYS = ("experience", "education", "contacts_sample", "messages")
_PROFILE_HINTS = (b'"headline"', b'"experience"', b'"contacts_sample"', b'"connections"')
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Numbered = tuple[int, Any, str | None]


class ProfileReader:
    name: ClassVar[str] = "profile"
    platform: ClassVar[str] = "linkedin"
    requires_published_at: ClassVar[bool] = False

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        start = head.lstrip()[:1]
        if start not in (b"{", b"[") or b'"id"' not in head:
            return 0
        hints = sum(hint in head for hint in _PROFILE_HINTS)
        if not hints:
            return 0
        if name.lower().endswith((".jsonl", ".ndjson", ".csv")):
            return 40
        return 60 + 10 * min(hints, 3)

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        data = document.read_bounded(settings.max_document_bytes)
        rows: list[tuple[int, dict[str, Any]]] = []
        rejects: list[tuple[int | None, str, str]] = []
        for line, value, error in profile_records(data, document.name, settings.max_json_depth):
            reason = error or profile_problem(value)
            if reason is not None:
                rejects.append((line, reason, value if error else _dump(value)))
            else:
                rows.append((line, _item(value, settings.max_text_chars)))
            if len(rows) + len(rejects) >= ROWS_PER_BATCH:
                yield make_batch(rows, rejects)
                rows, rejects = [], []
        if rows or rejects:
            yield make_batch(rows, rejects)


def profile_records(data: bytes, name: str, max_depth: int) -> list[Numbered]:
    """``(line, value, parse error)`` for each record: one object, a list, or JSON Lines."""
    try:
        value = loads_bounded(data, max_depth)
    except JsonTooDeep as error:
        raise ReadError(f"{name}: {error}") from None
    except ValueError:
        return _json_lines(data, name, max_depth)
    if isinstance(value, dict):
        return [(1, value, None)]
    if isinstance(value, list):
        return [(index, v, None) for index, v in enumerate(value, start=1)]
    raise ReadError(f"{name}: a profile file holds a JSON object or a list of objects")


def _json_lines(data: bytes, name: str, max_depth: int) -> list[Numbered]:
    """Records of a JSON Lines file; a bad first line means the file is not JSON at all."""
    records: list[Numbered] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, loads_bounded(line, max_depth), None))
        except ValueError as error:
            if not records:
                raise ReadError(f"{name}: line {number}: {error}") from None
            records.append((number, line.decode("utf-8", "replace"), str(error)))
    return records


def profile_problem(profile: Any) -> str | None:
    """Why this value is not a valid profile, or None."""
    if not isinstance(profile, dict):
        return f"a profile is a JSON object, not {type(profile).__name__}"
    if _text_id(profile.get("id")) is None:
        return "profile without an 'id'"
    for key in _TEXT_KEYS:
        if profile.get(key) is not None and not isinstance(profile[key], str):
            return f"'{key}' must be text"
    for key in _COUNT_KEYS:
        if not _is_scalar(profile.get(key)):
            return f"'{key}' must be a number or text"
    created = profile.get("created_at")
    if created is not None and _created_date(created) is None:
        return "'created_at' must be a date, YYYY-MM-DD"
    if profile.get("photo") is not None and not isinstance(profile["photo"], dict):
        return "'photo' must be an object"
    return _list_problem(profile)


def _list_problem(profile: Mapping[str, Any]) -> str | None:
    for key in _LIST_KEYS:
        entries = profile.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return f"'{key}' must be a list of objects"
        for index, entry in enumerate(entries):
            bad = next((k for k, v in entry.items() if not _is_scalar(v)), None)
            if bad is not None:
                return f"'{key}[{index}].{bad}' must be a number or text"
            if key == "messages" and entry.get("direction") not in (None, "in", "out"):
                return f"'messages[{index}].direction' must be 'in' or 'out'"
    return None


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)


def _text_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _created_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _item(profile: dict[str, Any], max_text_chars: int) -> dict[str, Any]:
    profile_id = _text_id(profile["id"])
    created = _created_date(profile.get("created_at"))
    return {
        "id": profile_id,
        "platform": profile.get("platform"),
        "account_id": profile_id,
        "account_name": profile.get("name"),
        "title": profile.get("headline") or profile.get("name") or profile_id,
        "text": _summary(profile)[:max_text_chars] or None,
        "published_at": f"{created.isoformat()}T00:00:00Z" if created else None,
        "profile": profile,
    }


def _summary(profile: Mapping[str, Any]) -> str:
    """A readable text of the profile, so text search and language detection see it."""
    lines = [str(profile[k]) for k in ("headline", "location") if profile.get(k)]
    for job in profile.get("experience") or ():
        span = _span(job.get("start"), job.get("end"))
        lines.append(f"Experience: {_joined(job.get('title'), job.get('company'), ' at ')}{span}")
    for school in profile.get("education") or ():
        span = _span(None, school.get("end"))
        lines.append(
            f"Education: {_joined(school.get('degree'), school.get('school'), ', ')}{span}"
        )
    lines.extend(str(m["text"]) for m in profile.get("messages") or () if m.get("text"))
    return "\n".join(lines)


def _joined(first: Any, second: Any, separator: str) -> str:
    return separator.join(str(part) for part in (first, second) if part not in (None, ""))


def _span(start: Any, end: Any) -> str:
    if start in (None, "") and end in (None, ""):
        return ""
    return f" ({start} - {end or 'present'})" if start else f" ({end})"


def _dump(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
