"""The scheduler: poll each source when it is due, ingest what is new, detect, alert; stop cleanly.

A *round* takes every source that is due (its ``next_due`` has passed, or it was never polled):

1. feeds and pages are fetched conditionally, ``concurrency`` at a time, in worker threads;
2. their new state (validators, next due time, failures) and the new article links they list
   are written in one transaction;
3. queued article pages of those sources (at most ``max_articles_per_round`` each, oldest
   first) are fetched in the workers and ingested one at a time in this thread, each in its own
   transaction that also marks the article done;
4. folders are scanned and their complete files ingested (``folders.py``);
5. if the round (or an earlier, interrupted one) added items, detection runs
   (``detection.py``), which sends the alerts; otherwise alert deliveries that are due for a
   retry are sent.

A source that fails is polled again after a backoff that doubles with each failure in a row
(never sooner than its interval, at most ``backoff_max_seconds``, shortened by up to
``backoff_jitter``); the others go on. A source with queued articles left over is due again
at once. SIGTERM or SIGINT sets a stop flag: no new fetch starts, fetches in flight finish and
what they brought is ingested, detection waits for the next start; a second signal abandons the
current transaction (rolled back). Every write is a transaction, so even a kill leaves nothing
half-written, and the state in the store is where the next start resumes.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import FrameType
from typing import Any, TypeVar

from fimiwatch.config import Settings, WatchSettings, parse_listen
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.fetch import FetchResult, fetch
from fimiwatch.store import Store
from fimiwatch.watch.articles import ingest_article
from fimiwatch.watch.detection import detect_after_ingest
from fimiwatch.watch.folders import FolderError, FolderResult, poll_folder
from fimiwatch.watch.metrics import WatchMetrics
from fimiwatch.watch.poll import PollResult, poll
from fimiwatch.watch.service import StatusServer
from fimiwatch.watch.sources import WatchedSource, watched_sources
from fimiwatch.watch.state import (
    DETECTED_THROUGH,
    MAX_ERROR_CHARS,
    QueuedArticle,
    SourceState,
    backlogged,
    get_progress,
    latest_ingest_with_items,
    load_states,
    mark_article_failed,
    queue_links,
    queued_articles,
    save_states,
    set_next_due,
    set_progress,
)

logger = logging.getLogger("fimiwatch.watch")

MAX_SLEEP_SECONDS = 30.0
"""The loop wakes at least this often (to notice a stop, refresh health)."""
K = TypeVar("K")


def backoff_delay(failures: int, every: float, watch: WatchSettings, draw: float) -> float:
    """Seconds to wait after the n-th failure in a row: ``backoff_seconds`` doubled per
    further failure, never less than the source's interval ``every``, at most
    ``backoff_max_seconds``, then shortened by up to ``backoff_jitter`` (``draw`` in [0, 1))."""
    grown = watch.backoff_seconds * 2.0 ** min(failures - 1, 60)
    capped = min(watch.backoff_max_seconds, max(every, grown))
    return capped * (1.0 - watch.backoff_jitter * draw)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class RoundSummary:
    polled: int = 0
    """Feeds, pages and folders polled."""
    not_modified: int = 0
    """Polls answered 304 (or with the same body)."""
    failed: int = 0
    articles: int = 0
    """Article pages ingested."""
    files: int = 0
    items_added: int = 0
    detected: bool = False
    seconds: float = 0.0

    def describe(self) -> str:
        return (
            f"{self.polled} polled ({self.not_modified} not modified, {self.failed} failed), "
            f"{self.articles} articles, {self.files} files, {self.items_added} items added"
            + (", detection run" if self.detected else "")
        )


class Watcher:
    """Polls the watched sources of one store; :meth:`run_round` is one round, :meth:`run`
    the long-running loop. ``clock`` (Unix seconds) and ``draw`` (jitter) can be replaced in
    tests; ``detect`` is what runs after a round that added items."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        metrics: WatchMetrics | None = None,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
        detect: Callable[[Store], Any] = detect_after_ingest,
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.watch = settings.watch
        self.metrics = metrics or WatchMetrics()
        self.clock = clock
        self.draw = draw
        self.detect = detect
        self.stop = stop or threading.Event()
        self.started_at = clock()
        self.rounds = 0
        self.last_round_at: float | None = None
        self._detect_not_before = 0.0
        self._detect_failures = 0
        self._health: dict[str, Any] = {"status": "starting", "sources": []}
        self._pool = ThreadPoolExecutor(self.watch.concurrency, "fimiwatch-fetch")
        self._started = False

    # -- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        """Once before the first round: the built-in registry (items get sources by domain),
        and the detection mark on a first start (items stored before it are left to
        ``fimiwatch run``)."""
        if self._started:
            return
        from fimiwatch.intel.registry import load_builtin_sources

        load_builtin_sources(self.store)
        if get_progress(self.store, DETECTED_THROUGH) is None:
            with self.store.transaction() as con:
                set_progress(con, DETECTED_THROUGH, latest_ingest_with_items(self.store))
        self._started = True
        self._refresh_health()

    def run(self, once: bool = False) -> None:
        """Rounds until stopped (or one round with ``once``)."""
        self.start()
        sources = watched_sources(self.store, self.settings)
        kinds = {kind: sum(s.kind == kind for s in sources) for kind in ("feed", "page", "folder")}
        logger.info(
            "watching %d sources (%d feeds, %d pages, %d folders) into %s",
            len(sources), kinds["feed"], kinds["page"], kinds["folder"], self.store.path,
        )  # fmt: skip
        self.detect_if_needed()  # finish what a stopped run left undetected
        while not self.stop.is_set():
            self.run_round()
            if once:
                break
            self.stop.wait(self.seconds_to_next_due())
        logger.info("stopped after %d rounds", self.rounds)

    def seconds_to_next_due(self) -> float:
        states = load_states(self.store)
        now = self.clock()
        waits = [
            (state.next_due.timestamp() - now) if state and state.next_due else 0.0
            for state in (states.get(s.location) for s in self._sources())
        ]
        return max(0.0, min([MAX_SLEEP_SECONDS, *waits]))

    def close(self) -> None:
        self.stop.set()
        self._health = {**self._health, "status": "stopping"}
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- one round ------------------------------------------------------------------------

    def run_round(self) -> RoundSummary:
        """Poll the sources that are due, ingest what is new, then detect if items were added."""
        started = self.clock()
        timer = time.perf_counter()
        summary = RoundSummary()
        sources = self._sources()
        states = load_states(self.store)
        due = [s for s in sources if self._is_due(states.get(s.location), started)]
        urls = [s for s in due if not s.is_folder]
        polls = self._poll_urls(urls, states, started, summary)
        fresh = [p.source for p in polls if p.ok]
        self._fetch_articles(fresh, started, summary)
        with self.store.transaction() as con:  # leftovers: due again at once
            set_next_due(con, backlogged(self.store, [s.location for s in fresh]), at(started))
        for source in (s for s in due if s.is_folder):
            if self.stop.is_set():
                break
            self._poll_folder(source, states.get(source.location), started, summary)
        summary.seconds = time.perf_counter() - timer
        self.rounds += 1
        self.last_round_at = self.clock()
        self.metrics.rounds.inc()
        self.metrics.round_seconds.observe(summary.seconds)
        self.metrics.last_round.set(self.last_round_at)
        summary.detected = self.detect_if_needed()
        if not summary.detected:
            self._retry_alerts()
        self._refresh_health()
        level = logging.INFO if summary.items_added or summary.failed else logging.DEBUG
        logger.log(
            level, "round %d: %s in %.1f s", self.rounds, summary.describe(), summary.seconds
        )
        return summary

    def _sources(self) -> list[WatchedSource]:
        return watched_sources(self.store, self.settings)

    @staticmethod
    def _is_due(state: SourceState | None, now: float) -> bool:
        return state is None or state.next_due is None or state.next_due.timestamp() <= now + 1e-3

    def _poll_urls(
        self,
        sources: list[WatchedSource],
        states: dict[str, SourceState],
        started: float,
        summary: RoundSummary,
    ) -> list[PollResult]:
        futures = {
            self._pool.submit(poll, s, states.get(s.location), self.settings): s for s in sources
        }
        polls = [future.result() for _, future in self._completed(futures)]
        updates = [self._after_poll(p, states.get(p.source.location), started) for p in polls]
        links = [(result.source.location, link) for result in polls for link in result.links]
        with self.store.transaction() as con:
            save_states(con, updates)
            queued = queue_links(con, links, at(started))
        for result, state in zip(polls, updates, strict=True):
            name = result.source.name
            self.metrics.polls.labels(name, result.outcome).inc()
            self.metrics.failures.labels(name).set(state.failures)
            if state.next_due is not None:
                self.metrics.next_due.labels(name).set(state.next_due.timestamp())
        summary.polled += len(polls)
        summary.not_modified += sum(p.outcome in ("not_modified", "unchanged") for p in polls)
        summary.failed += sum(not p.ok for p in polls)
        if queued:
            logger.info("%d new article links queued", queued)
        return polls

    def _after_poll(
        self, result: PollResult, state: SourceState | None, started: float
    ) -> SourceState:
        source = result.source
        base = state or SourceState(source.location, source.name)
        now = at(started)
        if result.ok:
            if base.failures:
                logger.info("source %s (%s) recovered after %d failures",
                            source.name, source.location, base.failures)  # fmt: skip
            return replace(
                base, name=source.name, etag=result.etag, last_modified=result.last_modified,
                body_sha256=result.body_sha256, next_due=at(started + source.every), failures=0,
                last_ok=now, last_polled=now,
            )  # fmt: skip
        return self._failed(source, base, result.error or "failed", started)

    def _failed(
        self, source: WatchedSource, base: SourceState, error: str, started: float
    ) -> SourceState:
        failures = base.failures + 1
        delay = backoff_delay(failures, source.every, self.watch, self.draw())
        reason = error.removeprefix(f"{source.location}: ")
        logger.warning(
            "source %s (%s %s) failed: %s; failure %d in a row, next try in %.0f s",
            source.name, source.kind, source.location, reason, failures, delay,
        )  # fmt: skip
        self.metrics.fetch_errors.labels(source.name, "source").inc()
        return replace(
            base, name=source.name, next_due=at(started + delay), failures=failures,
            last_error=error[:MAX_ERROR_CHARS], last_error_at=at(started), last_polled=at(started),
        )  # fmt: skip

    def _fetch_articles(
        self, sources: list[WatchedSource], started: float, summary: RoundSummary
    ) -> None:
        """Fetch queued articles in the workers; ingest each here as it arrives."""
        if self.stop.is_set():
            return
        by_location = {source.location: source for source in sources}
        limit = self.watch.max_articles_per_round
        queued = queued_articles(self.store, list(by_location), limit, at(started))
        work: dict[Future[FetchResult | str], tuple[WatchedSource, QueuedArticle]] = {
            self._pool.submit(self._fetch_article, article.url): (
                by_location[article.location],
                article,
            )
            for article in queued
        }
        for (source, article), future in self._completed(work):
            answer = future.result()
            now = at(self.clock())
            if isinstance(answer, str):
                self._article_failed(source, article, answer, now, give_up=False)
                continue
            assert answer.document is not None
            try:
                ingested = ingest_article(self.store, source, article, answer.document, now)
            except ReadError as exc:  # not an HTML page: fetching it again will not help
                self._article_failed(source, article, str(exc), now, give_up=True)
                continue
            except Exception as exc:
                logger.exception("source %s: article %s could not be ingested",
                                 source.name, article.url)  # fmt: skip
                self._article_failed(source, article, f"{type(exc).__name__}: {exc}", now,
                                     give_up=False)  # fmt: skip
                continue
            summary.articles += 1
            summary.items_added += ingested.added
            self.metrics.articles.labels(source.name).inc()
            self.metrics.items_ingested.labels(source.name).inc(ingested.added)

    def _fetch_article(self, url: str) -> FetchResult | str:
        """In a worker: the fetched page, or why it could not be fetched."""
        try:
            return fetch(url, self.settings.fetch)
        except ReadError as exc:
            return str(exc)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"

    def _article_failed(
        self,
        source: WatchedSource,
        article: QueuedArticle,
        error: str,
        now: datetime,
        give_up: bool,
    ) -> None:
        give_up = give_up or article.attempts + 1 >= self.watch.max_article_attempts
        with self.store.transaction() as con:
            mark_article_failed(con, article, error, now, give_up)
        self.metrics.fetch_errors.labels(source.name, "article").inc()
        fate = "given up" if give_up else "will retry at the source's next poll"
        logger.warning("source %s: article %s failed: %s (%s)",
                       source.name, article.url, error, fate)  # fmt: skip

    def _poll_folder(
        self,
        source: WatchedSource,
        state: SourceState | None,
        started: float,
        summary: RoundSummary,
    ) -> None:
        base = state or SourceState(source.location, source.name)
        try:
            result: FolderResult | None = poll_folder(
                self.store, source, self.settings, at(started), self.stop
            )
        except FolderError as exc:
            result, error = None, str(exc)
        except Exception as exc:
            logger.exception("source %s (%s): unexpected failure", source.name, source.location)
            result, error = None, f"{type(exc).__name__}: {exc}"
        summary.polled += 1
        if result is None:
            summary.failed += 1
            self.metrics.polls.labels(source.name, "error").inc()
            new = self._failed(source, base, error, started)
        else:
            outcome = "modified" if result.files or result.waiting else "not_modified"
            self.metrics.polls.labels(source.name, outcome).inc()
            for message in result.errors:
                logger.warning("source %s (folder %s): %s", source.name, source.location, message)
                self.metrics.fetch_errors.labels(source.name, "file").inc()
            summary.files += result.files
            summary.items_added += result.items_added
            self.metrics.files.labels(source.name).inc(result.files)
            self.metrics.items_ingested.labels(source.name).inc(result.items_added)
            now = at(started)
            new = replace(base, name=source.name, next_due=at(started + source.every),
                          failures=0, last_ok=now, last_polled=now)  # fmt: skip
        with self.store.transaction() as con:
            save_states(con, [new])
        self.metrics.failures.labels(source.name).set(new.failures)
        if new.next_due is not None:
            self.metrics.next_due.labels(source.name).set(new.next_due.timestamp())

    def _completed(self, futures: dict[Future[Any], K]) -> Iterator[tuple[K, Future[Any]]]:
        """Futures as they finish; once stopping, those not started are cancelled (those
        running finish, and are yielded, so what they fetched is not lost)."""
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                if not future.cancelled():
                    yield futures[future], future
            if self.stop.is_set():
                for future in pending:
                    future.cancel()

    # -- detection and alerts -------------------------------------------------------------

    def detect_if_needed(self) -> bool:
        """Run detection when items were added since it last ran (also after a restart)."""
        if not self.watch.detect or self.stop.is_set() or self.clock() < self._detect_not_before:
            return False
        latest = latest_ingest_with_items(self.store)
        if latest <= (get_progress(self.store, DETECTED_THROUGH) or 0):
            return False
        timer = time.perf_counter()
        try:
            summary = self.detect(self.store)
        except Exception:
            self._detect_failures += 1
            delay = backoff_delay(self._detect_failures, 0, self.watch, self.draw())
            self._detect_not_before = self.clock() + delay
            logger.exception("detection failed; retrying in %.0f s", delay)
            return False
        self._detect_failures = 0
        with self.store.transaction() as con:
            set_progress(con, DETECTED_THROUGH, latest)
        seconds = time.perf_counter() - timer
        self.metrics.detection_runs.inc()
        self.metrics.detection_seconds.observe(seconds)
        for name, (found, run_seconds) in (getattr(summary, "detectors", None) or {}).items():
            mode = (getattr(summary, "modes", None) or {}).get(name, "full")
            self.metrics.detector_seconds.labels(name, mode).observe(run_seconds)
            self.metrics.findings.labels(name).set(found)
        self._count_alerts(getattr(summary, "alerts", None))
        modes = getattr(summary, "modes", None) or {}
        examined = [f"{name} {mode}" for name, mode in modes.items() if mode != "unchanged"]
        logger.info("detection ran in %.1f s (%s)", seconds, ", ".join(examined) or "no change")
        return True

    def _retry_alerts(self) -> None:
        """Deliveries due for a retry, when no detection run sent them."""
        try:
            due = self.store.scalar(
                "SELECT count(*) FROM alert_deliveries WHERE state = 'pending' "
                "AND next_attempt_at <= ?",
                [at(self.clock())],
            )
            if not due:
                return
            from fimiwatch.alerts import dispatch

            self._count_alerts(dispatch(self.store, self.settings))
        except Exception:
            logger.exception("alerts: retrying deliveries failed")

    def _count_alerts(self, dispatched: Any) -> None:
        for attempt in getattr(dispatched, "attempts", None) or []:
            self.metrics.alert_deliveries.labels(attempt.channel, attempt.outcome).inc()
            if attempt.error:
                logger.warning("alert %s for %s via %s: %s (%s)", attempt.rule,
                               attempt.finding_id, attempt.channel, attempt.error,
                               attempt.outcome)  # fmt: skip

    # -- health ---------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        """For ``/healthz``: 503 while stopping, else 200; ``degraded`` when a source fails."""
        snapshot = self._health
        return (503 if snapshot["status"] == "stopping" else 200), snapshot

    def _refresh_health(self) -> None:
        states = load_states(self.store)
        now = self.clock()
        sources = []
        for source in self._sources():
            state = states.get(source.location)
            sources.append({
                "name": source.name, "kind": source.kind, "location": source.location,
                "source": source.source, "every_seconds": source.every, "origin": source.origin,
                "failures": state.failures if state else 0,
                "last_ok": _iso(state.last_ok if state else None),
                "last_error": state.last_error if state and state.failures else None,
                "last_error_at": _iso(state.last_error_at if state else None),
                "next_due": _iso(state.next_due if state else None),
            })  # fmt: skip
        failing = sum(1 for s in sources if s["failures"])
        self._health = {
            "status": "stopping" if self.stop.is_set() else ("degraded" if failing else "ok"),
            "started_at": _iso(at(self.started_at)),
            "last_round_at": _iso(at(self.last_round_at)) if self.last_round_at else None,
            "seconds_since_last_round": round(now - self.last_round_at, 3)
            if self.last_round_at
            else None,
            "rounds": self.rounds,
            "sources_failing": failing,
            "sources": sources,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``; a second one raises KeyboardInterrupt (the open
    transaction rolls back). Returns a function that restores the previous handlers."""

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            logger.warning("%s again: abandoning the current step", name)
            raise KeyboardInterrupt
        logger.info("%s: finishing what is in flight, then stopping", name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def run_watch(
    store: Store,
    settings: Settings,
    *,
    once: bool = False,
    listen: str = "",
    serve: str = "",
    serve_auth: bool = True,
) -> None:
    """``fimiwatch watch``: the loop, with signal handling, (given ``listen``) the health and
    metrics endpoint and (given ``serve``) the analyst workspace on the same store. ValueError
    for an address that cannot be listened on."""
    from fimiwatch.watch.workspace import WorkspaceServer

    watcher = Watcher(store, settings)
    server = None
    workspace = WorkspaceServer(store, serve, auth=serve_auth) if serve else None
    restore = install_signal_handlers(watcher.stop)
    try:
        if workspace is not None:
            workspace.start()
            logger.info("workspace at %s", workspace.url)
        if listen:
            host, port = parse_listen(listen)
            try:
                server = StatusServer(host, port, watcher.health, watcher.metrics.exposition)
            except OSError as exc:
                raise ValueError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
            server.start()
            logger.info("health at %s/healthz, metrics at %s/metrics", server.url, server.url)
        watcher.run(once=once)
    finally:
        if workspace is not None:
            workspace.close()
        watcher.close()
        if server is not None:
            server.close()
        restore()
