"""The analyst workspace served from the watch process (``fimiwatch watch --serve``).

DuckDB lets one process open a store for writing, so ``fimiwatch serve`` cannot open a store
that a watcher holds. Served from the watcher instead, the web app shares its store: each
request reads on its own cursor (a connection of its own, safe beside the watcher's thread)
and sees every committed round; its findings snapshot is rebuilt when a round commits.
"""

from __future__ import annotations

import contextlib
import threading
import time

from fimiwatch.config import parse_listen
from fimiwatch.store import Store

START_TIMEOUT_SECONDS = 15.0


class WorkspaceServer:
    """uvicorn in a thread of its own; ``close`` lets requests in flight finish."""

    def __init__(self, store: Store, address: str, auth: bool = True) -> None:
        import uvicorn

        from fimiwatch.web.app import LOOPBACK, create_app

        self.host, self.port = parse_listen(address)
        if not auth and self.host not in LOOPBACK:
            raise ValueError(f"a workspace without sign-in may only listen on a loopback "
                             f"address, not {self.host}")  # fmt: skip
        config = uvicorn.Config(
            create_app(store, auth=auth), host=self.host, port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="workspace", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _serve(self) -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind; see start()
            self.server.run()

    def start(self) -> None:
        """Serve; ValueError when the address cannot be listened on."""
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise ValueError(f"cannot serve the workspace on {self.host}:{self.port}")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=START_TIMEOUT_SECONDS)
