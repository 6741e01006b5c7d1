"""RSS and Atom feeds, parsed by feedparser from bytes already in memory.

Entity expansion ("billion laughs"): feedparser strips ``<!ENTITY`` declarations only when each
starts a line, so a one-line DTD reaches expat; Python's expat (2.4.1 and later; 2.5.0 here)
then stops it with its amplification limit, after up to a second of work. To keep that work and
every declared entity out of both of feedparser's parsers, this reader blanks any DOCTYPE
declaration before parsing (ASCII-compatible encodings; the expat limit remains the backstop
for others, and a test pins the expat version). feedparser never resolves external entities.

The document is handed over as a stream: feedparser treats a *string* as a URL or file name to
open, and a bytes value as a file name too (``open(b"/etc/passwd")``) — never pass it either.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import feedparser

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import Batch, InputDocument, ReadError, make_batch
from fimiwatch.ingest.htmltext import html_to_text, is_web_url, read_html, unique
from fimiwatch.ingest.ids import bounded_id

ROWS_PER_BATCH = 5000
_FIRST_ELEMENT = re.compile(rb"<([A-Za-z][\w:.-]*)")
_FEED_ROOTS = (b"rss", b"feed", b"rdf:rdf")
_DOCTYPE = b"<!DOCTYPE"
_DATE_KEYS = ("published", "updated", "created")


class FeedReader:
    name: ClassVar[str] = "rss"
    platform: ClassVar[str] = "rss"
    requires_published_at: ClassVar[bool] = True

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        root = _FIRST_ELEMENT.search(head)
        if root and root.group(1).lower() in _FEED_ROOTS:
            return 90
        if name.lower().endswith((".rss", ".atom")):
            return 70
        return 0

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        data = without_doctype(document.read_bounded(settings.max_document_bytes))
        headers = {"content-location": document.name} if is_web_url(document.name) else {}
        if document.content_type:
            headers["content-type"] = document.content_type
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
        if not parsed.get("entries") and (parsed.get("bozo") or not parsed.get("version")):
            reason = parsed.get("bozo_exception") or "no RSS or Atom root element"
            raise ReadError(f"{document.name}: not an RSS/Atom feed: {reason}")
        context = _feed_context(parsed.get("feed", {}))
        entries = list(enumerate(parsed.get("entries", []), start=1))
        for start in range(0, len(entries), ROWS_PER_BATCH):
            chunk = entries[start : start + ROWS_PER_BATCH]
            yield make_batch(
                (line, _record(entry, context, settings.max_text_chars)) for line, entry in chunk
            )


def without_doctype(data: bytes) -> bytes:
    """``data`` with every DOCTYPE declaration (internal subset included) blanked to spaces.

    Blanking keeps offsets and never joins bytes into a new declaration; a declaration with no
    end blanks the rest of the document, which was malformed anyway.
    """
    start = data.find(_DOCTYPE)
    if start < 0:
        return data
    blanked = bytearray(data)
    while start >= 0:
        end = _declaration_end(data, start)
        blanked[start:end] = b" " * (end - start)
        start = data.find(_DOCTYPE, end)
    return bytes(blanked)


def _declaration_end(data: bytes, start: int) -> int:
    close = data.find(b">", start)
    subset = data.find(b"[", start, close if close >= 0 else len(data))
    if subset >= 0:
        bracket = data.find(b"]", subset)
        close = data.find(b">", bracket) if bracket >= 0 else -1
    return close + 1 if close >= 0 else len(data)


def _feed_context(feed: Mapping[str, Any]) -> dict[str, Any]:
    language = str(feed.get("language") or "")[:2].lower()
    return {
        "lang": language
        if language.isascii() and language.isalpha() and len(language) == 2
        else None,
        "feed_title": feed.get("title"),
        "feed_link": feed.get("link"),
    }


def _record(entry: dict[str, Any], context: dict[str, Any], max_chars: int) -> dict[str, Any]:
    title = _plain(entry.get("title_detail") or {}, entry.get("title"))
    published = _published_at(entry)
    link = entry.get("link") if isinstance(entry.get("link"), str) else None
    html, text = _body(entry)
    content = read_html(html) if html is not None else None
    body = content.text if content is not None else text
    links = (content.hrefs if content is not None else []) + ([link] if link else [])
    return {
        "id": bounded_id(entry.get("id") or link, f"{title}\x1f{published}"),
        "published_at": published,
        "title": title,
        "text": body[:max_chars] if body else None,
        "url": link,
        "account_name": entry.get("author"),
        "links": unique([u for u in links if is_web_url(u)]),
        "categories": [t.get("term") for t in entry.get("tags") or () if t.get("term")],
        **context,
    }


def _published_at(entry: dict[str, Any]) -> str | None:
    """ISO 8601 UTC from feedparser's parsed time; the raw text if it could not parse it.

    Plain ``dict.get``: feedparser's own ``get`` maps "published" to "updated" with a warning.
    """
    for key in _DATE_KEYS:
        parsed = dict.get(entry, f"{key}_parsed")
        if parsed:
            try:
                return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed)
            except (TypeError, ValueError, OverflowError):
                break
    return next((dict.get(entry, k) for k in _DATE_KEYS if dict.get(entry, k)), None)


def _body(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(html, None)`` or ``(None, plain text)`` from the entry's content, else its summary."""
    for detail in [*(entry.get("content") or ()), entry.get("summary_detail") or {}]:
        value = detail.get("value")
        if isinstance(value, str) and value.strip():
            return (value, None) if "html" in str(detail.get("type", "")) else (None, value)
    return None, None


def _plain(detail: Mapping[str, Any], value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return html_to_text(value) if "html" in str(detail.get("type", "")) else value.strip()
