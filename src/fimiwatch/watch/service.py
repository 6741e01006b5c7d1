"""``/healthz`` and ``/metrics`` over HTTP on a small port, served from daemon threads.

Both answers come from snapshots the monitor hands over (a health dict it replaces after each
round, the metrics registry), never from the store, so a scrape cannot wait on the store or
block the monitor. No authentication: listen on loopback, or on an address only the scraper
reaches (source URLs and their errors are in ``/healthz``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

Health = Callable[[], tuple[int, dict[str, Any]]]
"""The HTTP status (200, or 503 while stopping) and the JSON body of ``/healthz``."""


class StatusServer:
    def __init__(self, host: str, port: int, health: Health, metrics: Callable[[], bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            server_version = "fimiwatch-watch"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    status, body = health()
                    self._reply(status, "application/json", orjson.dumps(body, default=str))
                elif path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, metrics())
                else:
                    self._reply(404, "text/plain; charset=utf-8", b"see /healthz, /metrics\n")

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        server_class = _Server6 if ":" in host else _Server
        self.server = server_class((host, port), Handler)
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="fimiwatch-status", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6
