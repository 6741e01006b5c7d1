"""Steady-state cost of ``fimiwatch watch`` on 500 feeds: CPU and memory while idle (every
feed answers 304) and per new item.

A local server in a child process serves N RSS feeds (ETag and Last-Modified, 304 on a match)
and their article pages, so its work is not counted. The watcher runs in this process over a
fresh store with a clock it is handed, so each round polls every feed; its CPU time (all
threads: ``time.process_time``) and RSS (``/proc/self/status``) are read around each phase:

1. first round: every feed is new, with one article each (N articles fetched and ingested);
2. idle rounds: every feed answers 304 (one conditional request each, nothing parsed);
3. new-item rounds: M feeds get one new article each; the cost per new item is that round's
   CPU less an idle round's, over M;
4. real idle: the loop itself (``Watcher.run``) for a while with nothing due, to show what it
   costs to wait.

Detection is off (``[watch] detect = false``) so that the watcher alone is measured; what
detection costs per round is ``bench_incremental.py``'s figure.

    .venv/bin/python bench/bench_watch.py --feeds 500 --idle-rounds 5 --new 50 --new-rounds 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BASE_TIME = 1_800_000_000


def serve(port_queue: Any, feeds: int) -> None:
    """The feed server (child process): /feed/I.xml, /article/I-N.html, /publish?count=M."""
    versions = [1] * feeds  # feed I lists articles 1..versions[I]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            host = f"http://{self.headers['Host']}"
            if path.startswith("/feed/"):
                index = int(path[6:].removesuffix(".xml"))
                with lock:
                    version = versions[index]
                etag = f'"{index}-{version}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                items = "".join(
                    f"<item><title>Feed {index} story {n}</title>"
                    f"<link>{host}/article/{index}-{n}.html</link>"
                    f"<pubDate>{formatdate(BASE_TIME + n * 60, usegmt=True)}</pubDate>"
                    f"<description>Summary of story {n} of feed {index}</description></item>"
                    for n in range(version, max(0, version - 20), -1)
                )
                body = (
                    f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {index}'
                    f"</title><link>{host}/</link>{items}</channel></rss>"
                ).encode()
                self.reply(body, "application/rss+xml", {"ETag": etag})
            elif path.startswith("/article/"):
                name = path[9:].removesuffix(".html")
                words = " ".join(f"w{name}-{i}" for i in range(150))
                body = (
                    f"<html lang='en'><head><title>Story {name}</title><meta property="
                    f"'article:published_time' content='2027-01-15T10:00:00+00:00'></head>"
                    f"<body><article><h1>Story {name}</h1><p>The story {name} in full. {words}"
                    f"</p><p>A second paragraph of story {name}.</p></article></body></html>"
                ).encode()
                self.reply(body, "text/html; charset=utf-8")
            elif path == "/publish":
                count = int(query.removeprefix("count="))
                step = max(1, feeds // count)
                with lock:
                    for index in range(0, step * count, step):
                        versions[index % feeds] += 1
                self.reply(b"ok", "text/plain")
            else:
                self.send_error(404)

        def reply(self, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--idle-rounds", type=int, default=5)
    parser.add_argument("--new", type=int, default=50, help="feeds with a new item per round")
    parser.add_argument("--new-rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--real-idle-seconds", type=float, default=60.0)
    args = parser.parse_args()

    import urllib.request

    from fimiwatch.config import FetchSettings, Settings, WatchSettings
    from fimiwatch.store import Store
    from fimiwatch.watch.loop import Watcher

    queue: Any = multiprocessing.get_context("fork").Queue()
    server = multiprocessing.get_context("fork").Process(
        target=serve, args=(queue, args.feeds), daemon=True
    )
    server.start()
    base = f"http://127.0.0.1:{queue.get(timeout=30)}"
    every = 900.0
    sources = tuple(
        {"name": f"feed{i}", "url": f"{base}/feed/{i}.xml", "source": f"outlet{i}"}
        for i in range(args.feeds)
    )
    results: dict[str, Any] = {"feeds": args.feeds, "concurrency": args.concurrency}
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            db=Path(folder) / "watch.duckdb",
            fetch=FetchSettings(allow_private=True, timeout_seconds=20),
            watch=WatchSettings(every=every, detect=False, concurrency=args.concurrency,
                                sources=sources),
        )  # fmt: skip
        now = [time.time()]
        with Store(settings.db, settings) as store:
            watcher = Watcher(store, settings, clock=lambda: now[0])
            watcher.start()
            results["rss_mb_before_first_round"] = round(rss_mb(), 1)

            def timed_round() -> dict[str, float]:
                cpu, wall = time.process_time(), time.perf_counter()
                summary = watcher.run_round()
                return {
                    "cpu_s": time.process_time() - cpu,
                    "wall_s": time.perf_counter() - wall,
                    "items": summary.items_added,
                    "not_modified": summary.not_modified,
                    "failed": summary.failed,
                }

            first = timed_round()
            results["first_round"] = {**first, "cpu_ms_per_item": 1000 * first["cpu_s"]
                                      / max(1, first["items"])}  # fmt: skip
            results["rss_mb_after_first_round"] = round(rss_mb(), 1)

            idle = []
            for _ in range(args.idle_rounds):
                now[0] += every
                idle.append(timed_round())
            assert all(r["not_modified"] == args.feeds for r in idle), idle
            idle_cpu = statistics.median(r["cpu_s"] for r in idle)
            results["idle_round"] = {
                "cpu_s_median": idle_cpu,
                "wall_s_median": statistics.median(r["wall_s"] for r in idle),
                "cpu_ms_per_feed": 1000 * idle_cpu / args.feeds,
                "cpu_s_per_hour_at_15m": idle_cpu * 3600 / every,
            }
            results["rss_mb_after_idle_rounds"] = round(rss_mb(), 1)

            new_rounds = []
            for _ in range(args.new_rounds):
                urllib.request.urlopen(f"{base}/publish?count={args.new}", timeout=10).read()
                now[0] += every
                new_rounds.append(timed_round())
            assert all(r["items"] == args.new for r in new_rounds), new_rounds
            new_cpu = statistics.median(r["cpu_s"] for r in new_rounds)
            results["new_item_round"] = {
                "new_items": args.new,
                "cpu_s_median": new_cpu,
                "wall_s_median": statistics.median(r["wall_s"] for r in new_rounds),
                "cpu_ms_per_new_item": 1000 * (new_cpu - idle_cpu) / args.new,
            }
            results["rss_mb_after_new_items"] = round(rss_mb(), 1)

            real = Watcher(store, settings)  # the real clock: nothing is due for 15 minutes
            real.start()
            store.con.execute(  # as if every feed had just been polled
                "UPDATE watch_state SET next_due = now() + INTERVAL 15 MINUTE"
            )
            stopper = threading.Timer(args.real_idle_seconds, real.stop.set)
            cpu = time.process_time()
            stopper.start()
            real.run()
            spent = time.process_time() - cpu
            real.close()
            results["real_idle"] = {
                "seconds": args.real_idle_seconds,
                "cpu_s": spent,
                "cpu_s_per_hour": spent * 3600 / args.real_idle_seconds,
            }
            results["rss_mb_end"] = round(rss_mb(), 1)
            watcher.close()
    server.terminate()
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
