"""Watched sources: what ``fimiwatch watch`` polls, from ``fimiwatch.toml`` or from the store.

A watched source is a *feed* (RSS/Atom; each entry links to an article page), a *page* (a front
or section page whose article links are followed) or a *folder* (where exports land; each file
is ingested once it is complete). Each has a name, a poll interval and, usually, the registry
key its items get as ``source``. ``[[watch.sources]]`` tables in ``fimiwatch.toml`` are read
here and never written; ``fimiwatch sources add`` keeps its sources in the store
(``watch_sources``). Names and locations are unique across both.

Settings import this module while they load, so it imports nothing heavy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fimiwatch.config import parse_duration

if TYPE_CHECKING:
    from fimiwatch.config import Settings
    from fimiwatch.store import Store

KINDS: tuple[str, ...] = ("feed", "page", "folder")
URL_KINDS = frozenset({"feed", "page"})
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}\Z")
SOURCE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}\Z")
"""The registry's key syntax (``intel/registry.py``)."""
MAX_URL_CHARS = 2048
MIN_EVERY_SECONDS = 1.0
_CONFIG_KEYS = frozenset({"name", "kind", "url", "path", "every", "source", "match", "format"})


@dataclass(frozen=True)
class WatchedSource:
    """One source to poll; invalid values raise ValueError when it is built."""

    name: str
    kind: str
    location: str
    """The URL of a feed or page; the absolute path of a folder."""
    every: float
    """Poll interval, seconds."""
    source: str | None = None
    """Registry key given to the items that come from it (None: assigned by URL domain)."""
    match: str | None = None
    """Feed and page: a regular expression article URLs must match (searched, not anchored).
    For a page, it replaces the built-in guess of which links are articles."""
    format: str = "auto"
    """Folder: the input format of its files (``fimiwatch formats``), or auto."""
    origin: str = "config"
    """config (``fimiwatch.toml``) or store (``fimiwatch sources add``)."""

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be 1–100 letters, digits or _.@-")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} must be one of {', '.join(KINDS)}")
        if self.kind in URL_KINDS:
            check_url(self.location)
        elif not Path(self.location).is_absolute():
            raise ValueError(f"{self.name}: folder path {self.location!r} must be absolute")
        if not MIN_EVERY_SECONDS <= self.every <= 7 * 86400:
            raise ValueError(f"{self.name}: every must be between 1 second and 7 days")
        if self.source is not None and not SOURCE_KEY.match(self.source):
            raise ValueError(
                f"{self.name}: source key {self.source!r} must be 1–128 letters, digits or _.:@/-"
            )
        if self.match is not None:
            if self.kind not in URL_KINDS:
                raise ValueError(f"{self.name}: match applies to feeds and pages only")
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ValueError(f"{self.name}: match {self.match!r}: {exc}") from None
        if self.format != "auto" and self.kind in URL_KINDS:
            raise ValueError(f"{self.name}: format applies to folders only")
        if self.origin not in ("config", "store"):
            raise ValueError(f"{self.name}: origin must be config or store")

    @property
    def is_folder(self) -> bool:
        return self.kind == "folder"


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if len(url) > MAX_URL_CHARS or not url.isprintable():
        raise ValueError(f"{url[:80]!r}…: not a usable URL")
    return url


def folder_location(path: str | Path) -> str:
    """A folder's location: absolute, ``~`` expanded, symbolic links resolved."""
    return str(Path(path).expanduser().resolve())


def default_name(kind: str, location: str, source: str | None, taken: Iterable[str]) -> str:
    """The registry key if free (``cgtn``), else with a number (``cgtn-2``); without a key, the
    host or folder name."""
    if source:
        base = source
    elif kind in URL_KINDS:
        base = urlsplit(location).hostname or kind
    else:
        base = Path(location).name or "folder"
    base = re.sub(r"[^A-Za-z0-9_.@-]+", "-", base).strip("-._@")[:90] or kind
    used = set(taken)
    name, number = base, 1
    while name in used:
        number += 1
        name = f"{base}-{number}"
    return name


def make_source(
    location: str,
    *,
    kind: str | None = None,
    every: str | float,
    source: str | None = None,
    name: str | None = None,
    match: str | None = None,
    format: str = "auto",
    origin: str = "config",
    taken: Iterable[str] = (),
) -> WatchedSource:
    """A checked source from user input: the kind is guessed when not given (an http(s) URL is
    a feed, anything else a folder), folders get absolute paths, names get a default."""
    if kind is None:
        kind = "feed" if location.startswith(("http://", "https://")) else "folder"
    if kind == "folder":
        location = folder_location(location)
    seconds = parse_duration(every)
    chosen = name or default_name(kind, location, source, taken)
    return WatchedSource(chosen, kind, location, seconds, source, match, format, origin)


def parse_config_sources(entries: Iterable[Any], default_every: float) -> tuple[WatchedSource, ...]:
    """``[[watch.sources]]`` tables as sources (already-built sources are kept as they are)."""
    parsed: list[WatchedSource] = []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, WatchedSource):
            parsed.append(entry)
            continue
        where = f"[[watch.sources]] #{number}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: must be a table")
        unknown = sorted(set(entry) - _CONFIG_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        if ("url" in entry) == ("path" in entry):
            raise ValueError(f"{where}: give url (feed, page) or path (folder)")
        location = str(entry.get("url") or entry.get("path"))
        kind = entry.get("kind") or ("feed" if "url" in entry else "folder")
        if (kind == "folder") != ("path" in entry):
            raise ValueError(f"{where}: a {kind} takes {'path' if kind == 'folder' else 'url'}")
        try:
            parsed.append(
                make_source(
                    location,
                    kind=str(kind),
                    every=entry.get("every", default_every),
                    source=entry.get("source"),
                    name=entry.get("name"),
                    match=entry.get("match"),
                    format=str(entry.get("format", "auto")),
                    taken=[s.name for s in parsed],
                )
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    check_unique(parsed)
    return tuple(parsed)


def check_unique(sources: Iterable[WatchedSource]) -> None:
    names: dict[str, WatchedSource] = {}
    locations: dict[str, WatchedSource] = {}
    for source in sources:
        for seen, key in ((names, source.name), (locations, source.location)):
            other = seen.get(key)
            if other is not None:
                raise ValueError(
                    f"watched sources {other.name} ({other.origin}) and {source.name} "
                    f"({source.origin}) share {'name' if seen is names else 'location'} {key!r}"
                )
            seen[key] = source


def stored_sources(store: Store) -> list[WatchedSource]:
    rows = store.rows(
        "SELECT name, kind, location, every_seconds, source, match, format "
        "FROM watch_sources ORDER BY name"
    )
    return [
        WatchedSource(
            r["name"], r["kind"], r["location"], r["every_seconds"], r["source"], r["match"],
            r["format"], origin="store",
        )
        for r in rows
    ]  # fmt: skip


def watched_sources(store: Store, settings: Settings) -> list[WatchedSource]:
    """Every source to watch: those of the settings, then those added to the store; ValueError
    when the two share a name or a location."""
    sources = [*settings.watch.sources, *stored_sources(store)]
    check_unique(sources)
    return sources


def add_source(store: Store, settings: Settings, source: WatchedSource) -> None:
    """Keep ``source`` in the store; ValueError when its name or location is taken."""
    check_unique([*watched_sources(store, settings), source])
    store.con.execute(
        "INSERT INTO watch_sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [source.name, source.kind, source.location, source.every, source.source, source.match,
         source.format, datetime.now(UTC)],
    )  # fmt: skip


def find_source(sources: list[WatchedSource], name_or_location: str) -> WatchedSource | None:
    for source in sources:
        if name_or_location in (source.name, source.location):
            return source
    candidates = [s for s in sources if s.is_folder]
    folder = folder_location(name_or_location) if not name_or_location.startswith("http") else ""
    return next((s for s in candidates if s.location == folder), None)


def remove_source(store: Store, settings: Settings, name_or_location: str) -> WatchedSource:
    """Stop watching a source added with ``sources add``: its poll state and its queued (not
    yet fetched) articles go; the memory of what was fetched or ingested stays, so adding it
    back fetches nothing twice. ValueError for an unknown source or one from the settings."""
    sources = watched_sources(store, settings)
    found = find_source(sources, name_or_location)
    if found is None:
        raise ValueError(f"no watched source {name_or_location!r} (see `fimiwatch sources list`)")
    if found.origin == "config":
        raise ValueError(
            f"watched source {found.name} is defined in the settings file ([[watch.sources]]); "
            "remove it there"
        )
    with store.transaction() as con:
        con.execute("DELETE FROM watch_sources WHERE name = ?", [found.name])
        con.execute("DELETE FROM watch_state WHERE location = ?", [found.location])
        con.execute(
            "DELETE FROM watch_articles WHERE location = ? AND state = 'queued'", [found.location]
        )
    return found
