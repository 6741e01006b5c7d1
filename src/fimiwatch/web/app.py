"""The analyst workspace (``fimiwatch serve``): HTML pages for people, the same data as JSON
under ``/api`` for their tools, described at ``/openapi.json``.

Every request needs a token of a user made with ``fimiwatch users add`` (``Authorization:
Bearer TOKEN``, or the login page's cookie), unless the server was started with ``--no-auth``
on a loopback address (``fimiwatch serve`` refuses it elsewhere). Everything shown comes from
hostile input: templates escape it, and the Content-Security-Policy lets a page load only the
server's own scripts, styles and images, never inline code or anything from outside.
"""

from __future__ import annotations

import secrets
from importlib.resources import files

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fimiwatch.store import Store
from fimiwatch.web import api, pages
from fimiwatch.web.triage import UPLOAD_BYTES

MAX_BODY_BYTES = UPLOAD_BYTES + 64 * 1024
"""A triage upload with its multipart framing; every other request body is far smaller."""
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` (and ``Cache-Control: no-store`` but to static files) to
    every response. Plain ASGI: Starlette's ``@app.middleware("http")`` costs more than the
    API's own work per request (it wraps each response in a stream and a task group)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(store: Store, auth: bool = True) -> FastAPI:
    """The workspace over an open store; ``auth=False`` only for loopback use (the CLI checks)."""
    app = FastAPI(
        title="fimiwatch",
        description="Findings on foreign information manipulation and interference, with the "
        "evidence behind them.",
        version="0.1.0",
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: not served
        docs_url=None,
        redoc_url=None,
        # a request body is refused (413) once it passes this, before anything parses it
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.store, app.state.auth = store, auth
    app.state.no_auth_secret = secrets.token_urlsafe(32)

    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(pages.LoginRequired, pages.login_redirect)
    app.include_router(api.router)
    app.include_router(pages.router)
    static = files("fimiwatch.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
