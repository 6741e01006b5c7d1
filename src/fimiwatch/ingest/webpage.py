"""One article page per document: main text and metadata extracted by trafilatura.

trafilatura works on the parsed tree only: nothing the page references (images, scripts,
frames, canonical links) is fetched, and scripts and styles never reach the text. A page whose
date cannot be found is still staged, without ``published_at``; the pipeline quarantines it
with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

import lxml.html
import trafilatura

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import Batch, InputDocument, ReadError, make_batch
from fimiwatch.ingest.htmltext import is_web_url
from fimiwatch.ingest.ids import bounded_id

_DATE_PARAMS = {"outputformat": "%Y-%m-%dT%H:%M:%S%z", "original_date": True}
_EXTRA_KEYS = ("sitename", "description", "hostname", "categories", "tags", "image", "license")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HTML_MARKERS = (b"<html", b"<!doctype html", b"<head", b"<body", b"<article")


class HtmlReader:
    name: ClassVar[str] = "html"
    platform: ClassVar[str] = "web"
    requires_published_at: ClassVar[bool] = True

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        lowered = head[:4096].lower()
        if any(marker in lowered for marker in _HTML_MARKERS):
            return 80
        return 50 if name.lower().endswith((".html", ".htm", ".xhtml")) else 0

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        data = document.read_bounded(settings.max_document_bytes)
        tree = trafilatura.load_html(data, max_size=settings.max_document_bytes)
        if tree is None or not isinstance(tree, lxml.html.HtmlElement):
            raise ReadError(f"{document.name}: not an HTML document")
        fetched_url = document.name if is_web_url(document.name) else None
        lang = _lang(tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang"))
        try:
            page = trafilatura.bare_extraction(
                tree,
                url=fetched_url,
                with_metadata=True,
                include_comments=False,
                date_extraction_params=_DATE_PARAMS,
            )
        except RecursionError:
            raise ReadError(f"{document.name}: HTML nested too deeply to extract") from None
        fields = page if isinstance(page, dict) or page is None else page.as_dict()
        if not fields or not fields.get("text"):
            raw = data[:4096].decode("utf-8", "replace")
            yield make_batch([], [(1, "no article text found in the page", raw)])
            return
        record = _record(fields, fetched_url, lang, settings.max_text_chars)
        record["published_at"] = _meta_time(tree) or record["published_at"]
        yield make_batch([(1, record)])


def _record(
    page: dict[str, Any], fetched_url: str | None, lang: str | None, max_chars: int
) -> dict[str, Any]:
    text = str(page["text"])[:max_chars]
    canonical = page.get("url") if is_web_url(str(page.get("url") or "")) else None
    url = canonical or fetched_url
    record = {
        "id": bounded_id(url, text),
        "published_at": _published_at(page.get("date")),
        "title": page.get("title"),
        "text": text,
        "url": url,
        "account_name": page.get("author"),
        "lang": lang or _lang(page.get("language")),
        "fetched_url": fetched_url if fetched_url != url else None,
    }
    record.update({key: page.get(key) or None for key in _EXTRA_KEYS})
    return record


_TIME_XPATH = (
    "//meta[@property='article:published_time' or @name='article:published_time'"
    " or @property='og:published_time' or @itemprop='datePublished']/@content"
    " | //time[@itemprop='datePublished' or @pubdate]/@datetime"
)


def _meta_time(tree: lxml.html.HtmlElement) -> str | None:
    """The publication time the page declares with its zone (trafilatura keeps only the day
    when the URL holds a date)."""
    for value in tree.xpath(_TIME_XPATH)[:10]:
        try:
            moment = datetime.fromisoformat(str(value).strip()[:40])
        except ValueError:
            continue
        if moment.tzinfo is not None:
            return moment.isoformat()
    return None


def _published_at(value: Any) -> str | None:
    """Full ISO time when the page gave one with its zone; otherwise the date at 00:00 UTC."""
    if not isinstance(value, str) or not _DAY.match(value):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").isoformat()
    except ValueError:
        return f"{value[:10]}T00:00:00Z"


def _lang(value: Any) -> str | None:
    code = str(value or "")[:3].lower()
    return (
        code[:2]
        if code[:2].isalpha() and code[:2].isascii() and code[2:] in ("", "-", "_")
        else None
    )
