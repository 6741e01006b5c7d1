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
from collections.abc import Awaitable, Callable
from importlib.resources import files

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from fimiwatch.store import Store
from fimiwatch.web import api, pages

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
    )
    app.state.store, app.state.auth = store, auth
    app.state.no_auth_secret = secrets.token_urlsafe(32)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    app.add_exception_handler(pages.LoginRequired, pages.login_redirect)
    app.include_router(api.router)
    app.include_router(pages.router)
    static = files("fimiwatch.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
