"""Poll one feed or page: a conditional GET, then the article links in what came back.

Runs in a worker thread, so it touches no store: it takes the source's last state and returns
a :class:`PollResult` that the loop writes. The request carries the ETag and Last-Modified of
the last answer; a 304 costs no body and no parsing, and a 200 whose body has the digest of the
last one is not parsed either (servers that ignore validators). Fetching goes through
``ingest/fetch.py``, so its safe-fetch rules hold (private and loopback addresses refused unless
``[fetch] allow_private``).

Article links: a feed's entry links (with the entry's title and time, used when the article
page lacks them); a page's links to pages on the same site that look like articles (a long
last path segment with a hyphen, underscore, digit or .html, below the site root), or, when
the source has ``match``, the links that match it, on any site.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.etree
import lxml.html

from fimiwatch.config import Settings
from fimiwatch.ingest.base import InputDocument, ReadError
from fimiwatch.ingest.feeds import FeedReader
from fimiwatch.ingest.fetch import fetch
from fimiwatch.watch.sources import MAX_URL_CHARS, WatchedSource
from fimiwatch.watch.state import Link, SourceState

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 1000
_PARSERS = threading.local()
_NOT_ARTICLES = re.compile(
    r"\.(?:jpe?g|png|gif|webp|svg|ico|css|js|json|xml|rss|atom|pdf|zip|gz|mp[34]|webm|avi|mov"
    r"|docx?|xlsx?|pptx?)\Z",
    re.IGNORECASE,
)
_ARTICLE_SEGMENT = re.compile(r"[-_\d]|\.s?html?\Z|\.php\Z", re.IGNORECASE)


@dataclass(frozen=True)
class PollResult:
    source: WatchedSource
    outcome: str
    """modified (parsed, links found), not_modified (304), unchanged (same body), error."""
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    links: tuple[Link, ...] = field(default=())
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome != "error"


def poll(source: WatchedSource, state: SourceState | None, settings: Settings) -> PollResult:
    """One conditional fetch of a feed or page; never raises (errors are results)."""
    started = time.perf_counter()
    try:
        result = _poll(source, state, settings)
    except ReadError as exc:
        result = PollResult(source, "error", error=str(exc))
    except Exception as exc:  # a bug or a parser failure on hostile input: one source only
        logger.exception("source %s (%s): unexpected failure", source.name, source.location)
        result = PollResult(source, "error", error=f"{type(exc).__name__}: {exc}")
    return PollResult(**{**result.__dict__, "seconds": time.perf_counter() - started})


def _poll(source: WatchedSource, state: SourceState | None, settings: Settings) -> PollResult:
    etag = state.etag if state else None
    last_modified = state.last_modified if state else None
    answer = fetch(source.location, settings.fetch, etag=etag, last_modified=last_modified)
    previous = state.body_sha256 if state else None
    if answer.not_modified:
        return PollResult(source, "not_modified", answer.etag, answer.last_modified, previous)
    document = answer.document
    assert document is not None and document.content is not None
    digest = hashlib.sha256(document.content).hexdigest()
    if digest == previous:
        return PollResult(source, "unchanged", answer.etag, answer.last_modified, digest)
    if source.kind == "feed":
        links = feed_links(document, settings)
    else:
        links = page_links(document, source.match is None, settings.watch.max_links_per_page)
    if source.match is not None:
        pattern = re.compile(source.match)
        links = [link for link in links if pattern.search(link.url)]
    return PollResult(source, "modified", answer.etag, answer.last_modified, digest, tuple(links))


def clean_url(url: str) -> str | None:
    """An article URL as remembered: without its fragment; None when unusable."""
    url = urldefrag(url.strip())[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL_CHARS:
        return None
    return url if url.isprintable() else None


def feed_links(document: InputDocument, settings: Settings) -> list[Link]:
    """Entry links of a feed, oldest entry first (feeds list the newest first)."""
    links: list[Link] = []
    for batch in FeedReader().read(document, settings.ingest):
        for row in batch.items.select(["url", "title", "published_at"]).to_pylist():
            url = clean_url(row["url"] or "")
            if url:
                title = (row["title"] or "")[:MAX_TITLE_CHARS] or None
                links.append(Link(url, title, row["published_at"]))
    return list(reversed(links))


def page_links(document: InputDocument, guess: bool, limit: int) -> list[Link]:
    """Links of a page, in page order, at most ``limit``: with ``guess``, only those on the same
    site that look like articles."""
    data = document.content or b""
    try:
        tree = lxml.html.document_fromstring(data, parser=_parser(), base_url=document.name)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ReadError(f"{document.name}: not an HTML page: {exc}") from None
    page = urlsplit(document.name)
    site = _site(page.hostname or "")
    links: dict[str, Link] = {}
    for element in tree.iter("a"):
        href = element.get("href")
        if not href or len(links) >= limit:
            continue
        try:
            absolute = urljoin(document.name, href.strip())
        except ValueError:
            continue
        url = clean_url(absolute)
        if url is None or url in links or urldefrag(document.name)[0] == url:
            continue
        if guess and not _looks_like_article(url, site):
            continue
        text = " ".join(element.text_content().split())[:MAX_TITLE_CHARS] or None
        links[url] = Link(url, text, None)
    return list(links.values())


def _parser() -> lxml.html.HTMLParser:
    """One parser per thread (polls run in worker threads; an lxml parser is not shared)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = lxml.html.HTMLParser(
            no_network=True, remove_comments=True, remove_pis=True, collect_ids=False
        )
        _PARSERS.parser = parser
    return parser


def _site(host: str) -> str:
    return host.lower().removeprefix("www.")


def _looks_like_article(url: str, site: str) -> bool:
    parts = urlsplit(url)
    if _site(parts.hostname or "") != site:
        return False
    segments = [s for s in parts.path.split("/") if s]
    if not segments or _NOT_ARTICLES.search(parts.path):
        return False
    last = segments[-1]
    has_digit = any(c.isdigit() for c in parts.path)
    return (
        len(last) >= 8 and bool(_ARTICLE_SEGMENT.search(last)) and (len(segments) >= 2 or has_digit)
    )
