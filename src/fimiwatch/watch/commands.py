"""What ``fimiwatch sources add`` and ``sources list`` do with watched sources (the CLI stays
a thin layer over this)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fimiwatch.config import Settings
from fimiwatch.store import Store
from fimiwatch.watch.sources import (
    WatchedSource,
    add_source,
    make_source,
    watched_sources,
)
from fimiwatch.watch.state import load_states


def add_watched(
    store: Store,
    settings: Settings,
    location: str,
    *,
    kind: str | None,
    every: str | None,
    source: str | None,
    name: str | None,
    match: str | None,
    format: str,
) -> tuple[WatchedSource, str | None]:
    """Add a watched source to the store; returns it and a warning (an unknown registry key).
    ValueError for bad input: the message says which value and why."""
    from fimiwatch import plugins
    from fimiwatch.intel.registry import load_builtin_sources

    is_url = location.startswith(("http://", "https://"))
    if (kind or ("feed" if is_url else "folder")) == "folder":
        if is_url:
            raise ValueError(f"{location}: a folder source takes a folder, not a URL")
        if not Path(location).expanduser().is_dir():
            raise ValueError(f"{location}: no such folder")
    elif not is_url:
        raise ValueError(f"{location}: a {kind} source takes an http(s) URL")
    readers = sorted(plugins.readers())
    if format != "auto" and format not in readers:
        raise ValueError(f"unknown format {format!r}; choose one of: auto, {', '.join(readers)}")
    taken = [s.name for s in watched_sources(store, settings)]
    added = make_source(
        location, kind=kind, every=every if every is not None else settings.watch.every,
        source=source, name=name, match=match, format=format, origin="store", taken=taken,
    )  # fmt: skip
    add_source(store, settings, added)
    warning = None
    if added.source:
        load_builtin_sources(store)
        if not store.scalar("SELECT count(*) FROM sources WHERE source = ?", [added.source]):
            warning = (
                f"source key {added.source!r} is not in the registry (yet): load it with "
                "`fimiwatch sources load REGISTRY.csv` so its items get its affiliation"
            )
    return added, warning


def watched_rows(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """One row per watched source with its poll state, for ``sources list``."""
    states = load_states(store)
    rows = []
    for source in watched_sources(store, settings):
        state = states.get(source.location)
        rows.append(
            {
                "name": source.name,
                "kind": source.kind,
                "location": source.location,
                "every": f"{source.every:g}s",
                "source": source.source,
                "origin": "fimiwatch.toml" if source.origin == "config" else "sources add",
                "last_ok": state.last_ok if state else None,
                "failures": state.failures if state else 0,
                "next_due": state.next_due if state else None,
                "last_error": (state.last_error or "")[:120] if state and state.failures else None,
            }
        )
    return rows
