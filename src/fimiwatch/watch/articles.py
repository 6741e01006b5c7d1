"""Ingest one fetched article page, and remember it in the same transaction.

The page is read by the html reader (trafilatura extraction, ``ingest/webpage.py``); where the
page gives no title or publication time, the feed entry's are used, so an article whose page
hides its date is not quarantined when its feed told the date. The item gets the watched
source's registry key as ``source``. The article (and the URL it redirected to) is marked
done inside the ingest's transaction: after a kill it is either stored and remembered, or
neither, and is then fetched again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import Batch, InputDocument
from fimiwatch.ingest.pipeline import IngestSummary, ingest_document
from fimiwatch.ingest.webpage import HtmlReader
from fimiwatch.store import Store
from fimiwatch.watch.sources import WatchedSource
from fimiwatch.watch.state import QueuedArticle, mark_article_done


class ArticleReader:
    """The html reader, with the feed entry's title and time where the page has none."""

    name: ClassVar[str] = HtmlReader.name
    platform: ClassVar[str] = HtmlReader.platform
    requires_published_at: ClassVar[bool] = HtmlReader.requires_published_at

    def __init__(self, title: str | None, published: str | None) -> None:
        self.defaults = {"title": title, "published_at": published}

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        return HtmlReader.sniff(name, head)

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        for batch in HtmlReader().read(document, settings):
            items = batch.items
            for column, value in self.defaults.items():
                if value is not None and items.num_rows:
                    index = items.schema.get_field_index(column)
                    filled = pc.fill_null(items.column(index), pa.scalar(value, pa.string()))
                    items = items.set_column(index, column, filled)
            yield Batch(items, batch.rejects)


def ingest_article(
    store: Store,
    source: WatchedSource,
    article: QueuedArticle,
    document: InputDocument,
    now: datetime,
) -> IngestSummary:
    """Ingest a fetched article page (named by its final URL) and mark it done, atomically."""
    reader = ArticleReader(article.title, article.published)
    return ingest_document(
        store,
        document,
        reader,
        source.source,
        bookkeeping=lambda con, ingest_id: mark_article_done(
            con, article, document.name, ingest_id, now
        ),
    )
