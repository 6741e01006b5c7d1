"""Registers fimiwatch's own readers through the plugin hook, as a third party would."""

from __future__ import annotations

from fimiwatch.ingest.base import Reader
from fimiwatch.plugins import hookimpl


@hookimpl
def fimiwatch_readers() -> list[type[Reader]]:
    from fimiwatch.ingest import feeds, items, mail, profile, telegram, webpage

    return [
        items.ItemsJsonlReader,
        items.ItemsCsvReader,
        items.QutCsvReader,
        items.TwitterIoReader,
        telegram.TelegramReader,
        feeds.FeedReader,
        webpage.HtmlReader,
        mail.EmlReader,
        mail.MboxReader,
        profile.ProfileReader,
    ]
