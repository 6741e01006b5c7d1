"""``fimiwatch watch``: polling with conditional requests, article memory, backoff, folders,
detection and alerts after a round, health and metrics, and a kill / restart that loses and
repeats nothing. A local feed server (http.server in a thread) serves feeds that change."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from fimiwatch.config import (
    FetchSettings,
    Settings,
    WatchSettings,
    load_settings,
    parse_duration,
    parse_listen,
)
from fimiwatch.ingest.fetch import fetch
from fimiwatch.store import Store
from fimiwatch.watch.loop import RoundSummary, Watcher, backoff_delay
from fimiwatch.watch.poll import page_links
from fimiwatch.watch.service import StatusServer
from fimiwatch.watch.sources import make_source, parse_config_sources
from fimiwatch.watch.state import load_states

ROOT = Path(__file__).resolve().parents[1]
START = 1_800_000_000.0


# -- the local feed server ---------------------------------------------------------------


@dataclass
class Site:
    """What the server serves; tests change it between rounds."""

    feeds: dict[str, list[int]] = field(default_factory=dict)
    """Feed name → article numbers it lists (newest last)."""
    versions: dict[str, int] = field(default_factory=dict)
    validators: bool = True
    article_delay: float = 0.0
    log: list[tuple[str, int, bool]] = field(default_factory=list)
    """(path, status, whether the request was conditional)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, feed: str, *numbers: int) -> None:
        with self.lock:
            self.feeds.setdefault(feed, []).extend(numbers)
            self.versions[feed] = self.versions.get(feed, 0) + 1

    def hits(self, prefix: str) -> Counter[str]:
        with self.lock:
            return Counter(path for path, status, _ in self.log if path.startswith(prefix))

    def requests(self, path: str) -> list[tuple[int, bool]]:
        with self.lock:
            return [(status, cond) for p, status, cond in self.log if p == path]


def rss(base: str, name: str, numbers: list[int]) -> bytes:
    items = "".join(
        f"<item><title>Story {n}</title><link>{base}/article/{n}.html</link>"
        f"<guid>{base}/article/{n}.html</guid>"
        f"<pubDate>{formatdate(START + n * 60, usegmt=True)}</pubDate>"
        f"<description>Summary {n}</description></item>"
        for n in reversed(numbers)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
        f"<link>{base}/</link>{items}</channel></rss>"
    ).encode()


def article(n: int, dated: bool = True) -> bytes:
    meta = (
        f'<meta property="article:published_time" content="2027-01-15T10:{n % 60:02d}:00+00:00">'
        if dated
        else ""
    )
    words = " ".join(f"word{n}x{i}" for i in range(60))
    return (
        f"<html lang='en'><head><title>Story {n}</title>{meta}</head><body><article>"
        f"<h1>Story {n}</h1><p>Article number {n} reports at length on the matter. {words}.</p>"
        f"<p>A second paragraph of article {n} with more detail for the extractor to keep.</p>"
        "</article></body></html>"
    ).encode()


def front_page(base: str) -> bytes:
    links = "".join(
        f'<li><a href="/news/2027/story-number-{n}.html">Story {n}</a></li>' for n in (1, 2)
    )
    return (
        "<html><body><nav><a href='/about'>About</a><a href='/privacy-policy'>Privacy</a>"
        f"<a href='https://elsewhere.example/news/2027/other-story.html'>x</a></nav>"
        f"<ul>{links}</ul></body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    site: Site
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        site = self.site
        path = self.path.split("?")[0]
        conditional = bool(
            self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since")
        )
        status = self.route(site, path)
        with site.lock:
            site.log.append((path, status, conditional))

    def route(self, site: Site, path: str) -> int:
        base = f"http://{self.headers['Host']}"
        if path.startswith("/feed/"):
            name = path.removeprefix("/feed/")
            if name not in site.feeds:
                return self.reply(404, b"no such feed")
            version = site.versions[name]
            etag, modified = f'"{name}-v{version}"', formatdate(START + version, usegmt=True)
            headers = {"ETag": etag, "Last-Modified": modified} if site.validators else {}
            if site.validators and (
                self.headers.get("If-None-Match") == etag
                or self.headers.get("If-Modified-Since") == modified
            ):
                return self.reply(304, b"", headers)
            body = rss(base, name, site.feeds[name])
            return self.reply(200, body, {"Content-Type": "application/rss+xml", **headers})
        if path.startswith("/article/") or path.startswith("/news/"):
            time.sleep(site.article_delay)
            number = int("".join(c for c in path.rsplit("/", 1)[-1] if c.isdigit()) or 0)
            return self.reply(200, article(number), {"Content-Type": "text/html"})
        if path == "/front.html":
            return self.reply(200, front_page(base), {"Content-Type": "text/html"})
        if path == "/fail":
            return self.reply(500, b"broken")
        return self.reply(404, b"not found")

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> int:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)
        return status


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request (the kill test) is expected


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    state = Site()
    handler = type("BoundHandler", (Handler,), {"site": state})
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def watch_settings(tmp_path: Path, *sources: dict[str, Any], **watch: Any) -> Settings:
    options = {"every": 60, "backoff_seconds": 60, "backoff_max_seconds": 3600,
               "detect": False, "concurrency": 2, **watch}  # fmt: skip
    return Settings(
        db=tmp_path / "store.duckdb",
        fetch=FetchSettings(allow_private=True, timeout_seconds=5),
        watch=WatchSettings(sources=tuple(sources), **options),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_watcher(store: Store, clock: Clock, **kwargs: Any) -> Watcher:
    kwargs.setdefault("draw", lambda: 0.5)
    watcher = Watcher(store, store.settings, clock=clock, **kwargs)
    watcher.start()
    return watcher


def item_rows(store: Store) -> list[dict[str, Any]]:
    return store.rows("SELECT id, source, platform, title, published_at FROM items ORDER BY id")


# -- polling feeds ----------------------------------------------------------------------


def test_new_items_are_ingested_once_and_an_unchanged_feed_costs_one_conditional_request(
    site: tuple[Site, str], tmp_path: Path, clock: Clock
) -> None:
    server, base = site
    server.publish("state.xml", 1, 2, 3)
    settings = watch_settings(tmp_path, {"url": f"{base}/feed/state.xml", "source": "cgtn"})
    with Store(settings.db, settings) as store:
        watcher = make_watcher(store, clock)
        first = watcher.run_round()
        assert (first.polled, first.articles, first.items_added) == (1, 3, 3)
        rows = item_rows(store)
        assert [r["title"] for r in rows] == ["Story 1", "Story 2", "Story 3"]
        assert {r["source"] for r in rows} == {"cgtn"} and {r["platform"] for r in rows} == {"web"}

        clock.advance(30)  # not due yet: nothing is requested
        before = len(server.log)
        assert watcher.run_round().polled == 0 and len(server.log) == before

        clock.advance(31)
        second = watcher.run_round()
        assert (second.polled, second.not_modified, second.articles) == (1, 1, 0)
        assert server.log[before:] == [("/feed/state.xml", 304, True)]  # one request, no body

        server.publish("state.xml", 4, 5)
        clock.advance(61)
        third = watcher.run_round()
        assert (third.articles, third.items_added) == (2, 2)
        assert server.requests("/feed/state.xml")[-1] == (200, True)
        assert len(item_rows(store)) == 5
        assert set(server.hits("/article/").values()) == {1}  # every article fetched once
        assert store.scalar("SELECT count(*) FROM watch_articles WHERE state = 'done'") == 5


def test_a_server_without_validators_is_not_parsed_again_when_its_feed_is_the_same(
    site: tuple[Site, str], tmp_path: Path, clock: Clock
) -> None:
    server, base = site
    server.validators = False
    server.publish("plain.xml", 1)
    settings = watch_settings(tmp_path, {"url": f"{base}/feed/plain.xml"})
    with Store(settings.db, settings) as store:
        watcher = make_watcher(store, clock)
        assert watcher.run_round().articles == 1
        clock.advance(61)
        again = watcher.run_round()
        assert (again.not_modified, again.articles) == (1, 0)
        assert server.requests("/feed/plain.xml") == [(200, False), (200, False)]


def test_an_article_listed_by_two_feeds_or_a_page_is_fetched_once(
    site: tuple[Site, str], tmp_path: Path, clock: Clock
) -> None:
    server, base = site
    server.publish("a.xml", 1, 2)
    server.publish("b.xml", 2, 3)
    settings = watch_settings(
        tmp_path,
        {"url": f"{base}/feed/a.xml", "source": "outlet-a"},
        {"url": f"{base}/feed/b.xml", "source": "outlet-b"},
        {"url": f"{base}/front.html", "kind": "page", "source": "outlet-c"},
    )
    with Store(settings.db, settings) as store:
        watcher = make_watcher(store, clock)
        summary = watcher.run_round()
        assert summary.polled == 3 and summary.articles == 5
        assert set(server.hits("/article/").values()) == {1}
        assert server.hits("/news/") == Counter(
            {"/news/2027/story-number-1.html": 1, "/news/2027/story-number-2.html": 1}
        )  # the page's article links, not its navigation nor another site
        by_source = store.rows("SELECT source, count(*) AS n FROM items GROUP BY 1 ORDER BY 1")
        assert sum(r["n"] for r in by_source) == 5
        assert {r["source"] for r in by_source} <= {"outlet-a", "outlet-b", "outlet-c"}


def test_page_links_with_a_pattern_follow_only_matching_urls() -> None:
    from fimiwatch.ingest.base import InputDocument

    page = InputDocument("https://news.example/", content=front_page("https://news.example"))
    guessed = [link.url for link in page_links(page, True, 100)]
    assert guessed == [
        "https://news.example/news/2027/story-number-1.html",
        "https://news.example/news/2027/story-number-2.html",
    ]
    assert len(page_links(page, True, 1)) == 1
    everything = [link.url for link in page_links(page, False, 100)]
    assert "https://news.example/about" in everything


def test_the_feed_time_is_used_when_the_article_page_gives_none(
    site: tuple[Site, str], tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, base = site
    monkeypatch.setattr(sys.modules[__name__], "article", lambda n, dated=False: article_undated(n))
    server.publish("undated.xml", 7)
    settings = watch_settings(tmp_path, {"url": f"{base}/feed/undated.xml"})
    with Store(settings.db, settings) as store:
        make_watcher(store, clock).run_round()
        [row] = item_rows(store)
        assert row["published_at"] == datetime.fromtimestamp(START + 7 * 60, UTC)


def article_undated(n: int) -> bytes:
    words = " ".join(f"plain{n}x{i}" for i in range(60))
    return (
        f"<html><head><title>Story {n}</title></head><body><article><h1>Story {n}</h1>"
        f"<p>No date on this page {n}. {words}.</p></article></body></html>"
    ).encode()


# -- failures and backoff ---------------------------------------------------------------


def test_backoff_doubles_is_never_sooner_than_the_interval_and_is_bounded() -> None:
    watch = WatchSettings(backoff_seconds=60, backoff_max_seconds=3600, backoff_jitter=0.2)
    plain = [backoff_delay(n, 30, watch, 0.0) for n in range(1, 9)]
    assert plain == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff_delay(1, 900, watch, 0.0) == 900  # not more often than the interval
    for n in range(1, 12):
        for draw in (0.0, 0.5, 0.999):
            delay = backoff_delay(n, 30, watch, draw)
            assert plain[min(n, 8) - 1] * 0.8 <= delay <= plain[min(n, 8) - 1] <= 3600


def test_a_failing_source_backs_off_without_stopping_the_others(
    site: tuple[Site, str], tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    server, base = site
    server.publish("good.xml", 1)
    refused = f"http://127.0.0.1:{closed_port()}/feed.xml"
    settings = watch_settings(
        tmp_path,
        {"name": "good", "url": f"{base}/feed/good.xml"},
        {"name": "broken", "url": f"{base}/fail"},
        {"name": "gone", "url": refused},
        every=10, backoff_seconds=20, backoff_max_seconds=100, backoff_jitter=0.5,
    )  # fmt: skip
    draws = itertools.cycle([0.0, 0.9, 0.3, 0.6, 0.1, 0.2, 0.4, 0.8, 0.7, 0.5])
    with Store(settings.db, settings) as store, caplog.at_level("WARNING", "fimiwatch.watch"):
        watcher = make_watcher(store, clock, draw=lambda: next(draws))
        first = watcher.run_round()
        assert (first.polled, first.failed, first.items_added) == (3, 2, 1)
        assert any("broken" in r.message and "/fail" in r.message and "HTTP 500" in r.message
                   for r in caplog.records)  # fmt: skip
        assert any("gone" in r.message and refused in r.message for r in caplog.records)
        waits: list[float] = []
        for _ in range(4):
            states = load_states(store)
            broken = states[f"{base}/fail"]
            assert states[f"{base}/feed/good.xml"].failures == 0
            assert broken.next_due is not None
            waits.append(broken.next_due.timestamp() - clock.now)
            clock.now = broken.next_due.timestamp() + 0.001
            server.publish("good.xml", 10 + len(waits))  # the good one keeps bringing news
            summary = watcher.run_round()
            assert summary.items_added >= 1
        states = load_states(store)
        assert states[f"{base}/fail"].failures == 5 and states[refused].failures >= 2
        assert "HTTP 500" in (states[f"{base}/fail"].last_error or "")
        for n, wait_seconds in enumerate(waits, start=1):
            full = min(100, max(10, 20 * 2 ** (n - 1)))
            assert full * 0.5 <= wait_seconds <= full + 0.01
        assert waits[2] > waits[0]  # grows, whatever the jitter drew
        status, health = watcher.health()
        assert status == 200 and health["status"] == "degraded"
        assert {s["name"]: s["failures"] for s in health["sources"]}["good"] == 0


def test_an_article_that_fails_is_retried_then_given_up(
    site: tuple[Site, str], tmp_path: Path, clock: Clock
) -> None:
    server, base = site
    server.publish("mixed.xml", 1)
    settings = watch_settings(tmp_path, {"url": f"{base}/feed/mixed.xml"},
                              max_article_attempts=2)  # fmt: skip
    with Store(settings.db, settings) as store:
        store.con.execute(  # an entry whose page is missing
            "INSERT INTO watch_articles (url, location, seq, state, queued_at) "
            "VALUES (?, ?, 0, 'queued', now())",
            [f"{base}/missing.html", f"{base}/feed/mixed.xml"],
        )
        watcher = make_watcher(store, clock)
        assert watcher.run_round().articles == 1
        clock.advance(61)
        watcher.run_round()
        clock.advance(61)
        watcher.run_round()
        assert server.requests("/missing.html") == [(404, False), (404, False)]
        assert store.scalar("SELECT state FROM watch_articles WHERE url LIKE '%missing%'") == (
            "failed"
        )


def test_private_addresses_are_refused_unless_allowed(
    site: tuple[Site, str], tmp_path: Path, clock: Clock
) -> None:
    server, base = site
    server.publish("f.xml", 1)
    settings = watch_settings(tmp_path, {"url": f"{base}/feed/f.xml"})
    settings = Settings(db=settings.db, watch=settings.watch)  # default: allow_private off
    with Store(settings.db, settings) as store:
        summary = make_watcher(store, clock).run_round()
        assert summary.failed == 1 and not server.log
        assert "refused" in (load_states(store)[f"{base}/feed/f.xml"].last_error or "")


# -- folders ----------------------------------------------------------------------------


def test_a_folder_file_is_ingested_once_when_complete(tmp_path: Path, clock: Clock) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    settings = watch_settings(tmp_path, {"name": "drop", "path": str(drop), "source": "tg"})
    record = '{{"id": "m{0}", "published_at": "2027-01-01T00:0{0}:00Z", "text": "message {0}"}}\n'
    done = drop / "done.jsonl"
    done.write_text(record.format(1) + record.format(2))
    growing = drop / "growing.jsonl"
    growing.write_text(record.format(3))
    (drop / "partial.jsonl.part").write_text(record.format(9))
    (drop / ".hidden.jsonl").write_text(record.format(8))
    with Store(settings.db, settings) as store:
        watcher = make_watcher(store, clock)

        def round_() -> RoundSummary:
            clock.advance(61)
            return watcher.run_round()

        assert round_().files == 0  # first sight: not yet known to be complete
        with growing.open("a") as handle:  # still being written
            handle.write(record.format(4))
        second = round_()
        assert (second.files, second.items_added) == (1, 2)  # done.jsonl only
        third = round_()
        assert (third.files, third.items_added) == (1, 2)  # growing.jsonl, now complete
        assert round_().files == 0
        os.utime(done, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))  # touched only
        round_()
        assert round_().files == 0
        ingested = store.rows("SELECT input, added FROM ingest_log ORDER BY ingest_id")
        assert [(Path(r["input"]).name, r["added"]) for r in ingested] == [
            ("done.jsonl", 2), ("growing.jsonl", 2),
        ]  # fmt: skip
        assert store.scalar("SELECT list(DISTINCT source) FROM items") == ["tg"]


def test_a_missing_folder_is_a_failing_source(tmp_path: Path, clock: Clock) -> None:
    settings = watch_settings(tmp_path, {"name": "nowhere", "path": str(tmp_path / "none")})
    with Store(settings.db, settings) as store:
        assert make_watcher(store, clock).run_round().failed == 1
        assert "no such folder" in (load_states(store)[str(tmp_path / "none")].last_error or "")


# -- detection and alerts ---------------------------------------------------------------


def test_detection_runs_after_rounds_that_added_items_and_alerts_fire_once(
    site: tuple[Site, str], tmp_path: Path, clock: Clock
) -> None:
    from fimiwatch.alerts import Rule, add_rule, dispatch
    from fimiwatch.findings import Finding
    from fimiwatch.runner import RunSummary, save_findings

    server, base = site
    server.publish("n.xml", 1, 2)
    settings = watch_settings(tmp_path, {"url": f"{base}/feed/n.xml"}, detect=True)
    alerts = tmp_path / "alerts.jsonl"
    runs: list[int] = []

    def detect(store: Store) -> RunSummary:
        """Stands in for the full run: one finding per item, then the alerts it matches."""
        ids = [row[0] for row in store.con.execute("SELECT id FROM items").fetchall()]
        runs.append(len(ids))
        findings = [Finding(f"narrative-{n}", "narrative", f"about {i}", "s", 0.8, "high",
                            item_ids=(i,)) for n, i in enumerate(sorted(ids))]  # fmt: skip
        save_findings(store, "stub", findings)
        return RunSummary(detectors={"stub": (len(findings), 0.01)},
                          alerts=dispatch(store, store.settings))  # fmt: skip

    with Store(settings.db, settings) as store:
        add_rule(store, Rule("all", "file", str(alerts)))
        watcher = make_watcher(store, clock, detect=detect)
        assert watcher.run_round().detected
        clock.advance(61)
        assert not watcher.run_round().detected  # 304: nothing new, no detection
        server.publish("n.xml", 3)
        clock.advance(61)
        assert watcher.run_round().detected
        assert runs == [2, 3]
        lines = [orjson.loads(line) for line in alerts.read_bytes().splitlines()]
        assert len(lines) == 3  # one per finding, each once
        metrics = watcher.metrics.exposition().decode()
        assert 'fimiwatch_alert_deliveries_total{channel="file",outcome="delivered"} 3.0' in metrics
        assert "fimiwatch_watch_detection_runs_total 2.0" in metrics
        runs_metric = 'fimiwatch_watch_detector_run_seconds_count{detector="stub",mode="full"}'
        assert f"{runs_metric} 2.0" in metrics


def test_the_default_detection_is_the_incremental_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fimiwatch import runner
    from fimiwatch.watch.detection import detect_after_ingest

    seen: list[tuple[Store, bool]] = []

    def run_pipeline(store: Store, incremental: bool = False) -> str:
        seen.append((store, incremental))
        return "summary"

    monkeypatch.setattr(runner, "run_pipeline", run_pipeline)
    with Store(tmp_path / "s.duckdb") as store:
        assert detect_after_ingest(store) == "summary" and seen == [(store, True)]


# -- health, metrics, settings ----------------------------------------------------------


def test_healthz_and_metrics_answer(site: tuple[Site, str], tmp_path: Path, clock: Clock) -> None:
    server, base = site
    server.publish("h.xml", 1)
    settings = watch_settings(tmp_path, {"name": "h", "url": f"{base}/feed/h.xml"})
    with Store(settings.db, settings) as store:
        watcher = make_watcher(store, clock)
        watcher.run_round()
        status_server = StatusServer("127.0.0.1", 0, watcher.health, watcher.metrics.exposition)
        status_server.start()
        try:
            with urllib.request.urlopen(f"{status_server.url}/healthz", timeout=5) as answer:
                health = orjson.loads(answer.read())
            with urllib.request.urlopen(f"{status_server.url}/metrics", timeout=5) as answer:
                metrics = answer.read().decode()
        finally:
            status_server.close()
        assert health["status"] == "ok" and health["rounds"] == 1
        [source] = health["sources"]
        assert source["name"] == "h" and source["failures"] == 0 and source["last_ok"]
        assert 'fimiwatch_watch_polls_total{result="modified",source="h"} 1.0' in metrics
        assert 'fimiwatch_watch_items_ingested_total{source="h"} 1.0' in metrics
        assert "process_resident_memory_bytes" in metrics


def test_watch_settings_from_the_file(tmp_path: Path) -> None:
    config = tmp_path / "fimiwatch.toml"
    config.write_text(
        '[watch]\nevery = "15m"\nlisten = "127.0.0.1:9465"\n'
        '[[watch.sources]]\nurl = "https://example.org/rss"\nsource = "cgtn"\n'
        '[[watch.sources]]\nurl = "https://example.org/live"\nkind = "page"\nevery = "1h30m"\n'
        '[[watch.sources]]\npath = "drops"\nevery = 30\nformat = "telegram"\n'
    )
    watch = load_settings(config).watch
    feed, page, folder = watch.sources
    assert watch.every == 900 and parse_listen(watch.listen) == ("127.0.0.1", 9465)
    assert (feed.name, feed.kind, feed.every, feed.source) == ("cgtn", "feed", 900, "cgtn")
    assert (page.name, page.kind, page.every) == ("example.org", "page", 5400)
    assert folder.kind == "folder" and Path(folder.location).is_absolute() and folder.every == 30
    assert [parse_duration(v) for v in ("90", "45s", "2h", "1d", 5)] == [90, 45, 7200, 86400, 5]
    for bad in ("soon", "15x", ""):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"url": "ftp://x.org/f"}, "not an http"),
        ({"url": "https://x.org/f", "kind": "folder"}, "takes path"),
        ({"url": "https://x.org/f", "every": "0"}, "between 1 second"),
        ({"url": "https://x.org/f", "colour": "red"}, "unknown key"),
        ({"url": "https://x.org/f", "match": "("}, "match"),
        ({"url": "https://x.org/f", "source": "bad key!"}, "source key"),
    ],
)
def test_bad_watch_sources_are_refused_when_settings_load(
    entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_config_sources([entry], 900)


def test_duplicate_locations_are_refused() -> None:
    entry = {"url": "https://x.org/f"}
    with pytest.raises(ValueError, match="share location"):
        parse_config_sources([entry, {**entry, "name": "other"}], 900)
    assert make_source("https://x.org/f", every=60, source="k", taken=["k"]).name == "k-2"


def test_conditional_fetch(site: tuple[Site, str]) -> None:
    server, base = site
    server.publish("c.xml", 1)
    local = FetchSettings(allow_private=True, timeout_seconds=5)
    first = fetch(f"{base}/feed/c.xml", local)
    assert first.status == 200 and first.document is not None and first.etag == '"c.xml-v1"'
    again = fetch(f"{base}/feed/c.xml", local, etag=first.etag)
    assert again.not_modified and again.document is None and again.etag == first.etag
    since = fetch(f"{base}/feed/c.xml", local, last_modified=first.last_modified)
    assert since.not_modified
    server.publish("c.xml", 2)
    assert fetch(f"{base}/feed/c.xml", local, etag=first.etag).etag == '"c.xml-v2"'


# -- the command line -------------------------------------------------------------------


def fimiwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from fimiwatch.cli import main; main()", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "250"},
    )  # fmt: skip


def test_sources_add_list_remove(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fimiwatch.cli import BadInput, app

    (tmp_path / "drop").mkdir()
    (tmp_path / "fimiwatch.toml").write_text(
        '[[watch.sources]]\nname = "from-file"\nurl = "https://example.org/rss"\n'
    )
    runner = CliRunner()
    base = ["--db", str(tmp_path / "s.duckdb"), "--config", str(tmp_path / "fimiwatch.toml")]

    def run(*args: str) -> Any:
        return runner.invoke(app, [*base, *args], env={"COLUMNS": "300"})

    added = run("sources", "add", "https://news.example/feed.xml", "--every", "15m",
                "--source", "cgtn")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert run("sources", "add", str(tmp_path / "drop"), "--every", "1m").exit_code == 0
    listing = run("sources", "list", "--watched")
    assert listing.exit_code == 0
    for expected in ("cgtn", "from-file", "drop", "900s", "60s", "sources add"):
        assert expected in listing.output
    for bad, reason in [
        (["https://news.example/feed.xml"], "share location"),
        (["https://x.example/", "--every", "soon"], "not a duration"),
        ([str(tmp_path / "none")], "no such folder"),
        (["https://x.example/", "--kind", "folder"], "takes a folder"),
        (["https://x.example/", "--name", "cgtn"], "share name"),
    ]:
        result = run("sources", "add", *bad)
        assert isinstance(result.exception, BadInput) and reason in str(result.exception), bad
    assert isinstance(run("sources", "remove", "from-file").exception, BadInput)
    assert run("sources", "remove", "https://news.example/feed.xml").exit_code == 0
    assert run("sources", "remove", str(tmp_path / "drop")).exit_code == 0
    assert "cgtn" not in run("sources", "list", "--watched").output


def test_watch_with_bad_input_exits_2(tmp_path: Path) -> None:
    result = fimiwatch("--db", "s.duckdb", "watch", "--once", cwd=tmp_path)
    assert result.returncode == 2 and "nothing to watch" in result.stderr
    (tmp_path / "fimiwatch.toml").write_text('[[watch.sources]]\nurl = "gopher://x"\n')
    result = fimiwatch("--db", "s.duckdb", "watch", "--once", cwd=tmp_path)
    assert result.returncode == 2 and "not an http(s) URL" in result.stderr


# -- kill and restart -------------------------------------------------------------------


def start_watch(folder: Path, *args: str) -> subprocess.Popen[str]:
    log = (folder / "watch.log").open("a")
    return subprocess.Popen(
        [sys.executable, "-c", "from fimiwatch.cli import main; main()",
         "--db", "store.duckdb", "watch", *args],
        cwd=folder, stdout=log, stderr=log, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def free_port() -> int:
    return closed_port()


def test_kill_and_restart_lose_and_repeat_nothing(site: tuple[Site, str], tmp_path: Path) -> None:
    server, base = site
    server.article_delay = 0.15
    total = 14
    server.publish("big.xml", *range(1, total + 1))
    (tmp_path / "fimiwatch.toml").write_text(
        "[fetch]\nallow_private = true\ntimeout_seconds = 5\n"
        "[watch]\nevery = 1\ndetect = false\nconcurrency = 2\nmax_articles_per_round = 3\n"
        f'[[watch.sources]]\nname = "big"\nurl = "{base}/feed/big.xml"\nsource = "big"\n'
    )

    def fetched() -> Counter[str]:
        return server.hits("/article/")

    killed = start_watch(tmp_path)  # 1. killed outright mid-way
    wait_for(lambda: sum(fetched().values()) >= 4)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    at_kill = fetched()

    port = free_port()  # 2. stopped with SIGTERM, health and metrics served meanwhile
    stopped = start_watch(tmp_path, "--listen", f"127.0.0.1:{port}")
    wait_for(lambda: len(fetched()) >= 8)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        assert orjson.loads(answer.read())["sources"][0]["name"] == "big"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert b"fimiwatch_watch_articles_ingested_total" in answer.read()
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(20) == 0, (tmp_path / "watch.log").read_text()
    at_term = fetched()

    finished = start_watch(tmp_path)  # 3. runs to the end
    wait_for(lambda: len(fetched()) == total)
    time.sleep(0.5)
    finished.send_signal(signal.SIGTERM)
    assert finished.wait(20) == 0
    with Store(tmp_path / "store.duckdb") as store:
        ids = [row[0] for row in store.con.execute("SELECT id FROM items").fetchall()]
        states = store.rows("SELECT state, count(*) AS n FROM watch_articles GROUP BY 1")
    assert len(ids) == total and len(set(ids)) == total  # nothing lost, nothing twice
    assert states == [{"state": "done", "n": total}]
    hits = fetched()
    repeated = {path for path, n in hits.items() if n > 1}
    assert len(repeated) <= 3  # at most what was fetched, not yet committed, at the SIGKILL
    assert repeated <= set(at_kill)
    assert all(hits[path] == at_term[path] for path in at_term)  # SIGTERM: nothing fetched again


def test_the_workspace_served_from_the_watcher_sees_each_round(
    site: tuple[Site, str], tmp_path: Path
) -> None:
    """``watch --serve``: the web app shares the watcher's store (no second process could
    open it) and answers while rounds write."""
    server, base = site
    server.publish("w.xml", 1)
    (tmp_path / "fimiwatch.toml").write_text(
        "[fetch]\nallow_private = true\ntimeout_seconds = 5\n"
        "[watch]\nevery = 1\ndetect = false\n"
        f'[[watch.sources]]\nname = "w"\nurl = "{base}/feed/w.xml"\nsource = "w"\n'
    )
    port = free_port()
    watcher = start_watch(tmp_path, "--serve", f"127.0.0.1:{port}", "--no-auth")

    def items() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/overview", timeout=5) as r:
                return int(orjson.loads(r.read())["stored"]["items"])
        except OSError:
            return -1

    try:
        wait_for(lambda: items() == 1)
        server.publish("w.xml", 1, 2)
        wait_for(lambda: items() == 2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/findings", timeout=5) as answer:
            assert answer.status == 200
    finally:
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(20) == 0, (tmp_path / "watch.log").read_text()


def test_watch_serve_checks_its_address(tmp_path: Path) -> None:
    (tmp_path / "fimiwatch.toml").write_text('[[watch.sources]]\nurl = "https://x.example/"\n')
    result = fimiwatch("--db", "s.duckdb", "watch", "--serve", "nowhere", cwd=tmp_path)
    assert result.returncode == 2 and "--serve" in result.stderr
    result = fimiwatch("--db", "s.duckdb", "watch", "--no-auth", cwd=tmp_path)
    assert result.returncode == 2 and "--serve" in result.stderr
    result = fimiwatch(
        "--db", "s.duckdb", "watch", "--serve", "0.0.0.0:1", "--no-auth", cwd=tmp_path
    )
    assert result.returncode == 2 and "loopback" in result.stderr
