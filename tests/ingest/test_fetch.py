from __future__ import annotations

import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.config import FetchSettings
from fimiwatch.ingest import fetch
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.fetch import fetch_url, forbidden_reason

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LOCAL = FetchSettings(allow_private=True, timeout_seconds=5)


class Handler(BaseHTTPRequestHandler):
    """Routes: /feed, /redirect?to=URL, /loop, /big, /chunked-big, /gzip-bomb, /slow, /missing."""

    user_agents: list[str] = []  # noqa: RUF012

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        route = getattr(self, "route_" + path.strip("/").replace("-", "_"), None)
        if route is None:
            self.send_error(404)
        else:
            route(query)

    def reply(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def route_feed(self, query: str) -> None:
        self.user_agents.append(self.headers["User-Agent"])
        self.reply(FEED, {"Content-Type": "application/rss+xml"})

    def route_redirect(self, query: str) -> None:
        self.send_response(302)
        self.send_header("Location", query.removeprefix("to="))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def route_loop(self, query: str) -> None:
        self.route_redirect("to=/loop")

    def route_big(self, query: str) -> None:
        self.reply(b"x" * 5000)

    def route_chunked_big(self, query: str) -> None:
        self.send_response(200)
        self.end_headers()  # no length: the body runs until the connection closes
        for _ in range(100):
            self.wfile.write(b"y" * 1000)
        self.close_connection = True

    def route_gzip_bomb(self, query: str) -> None:
        self.reply(gzip.compress(b"\0" * 50_000_000), {"Content-Encoding": "gzip"})

    def route_gzip_ok(self, query: str) -> None:
        self.reply(gzip.compress(FEED), {"Content-Encoding": "gzip"})

    def route_slow(self, query: str) -> None:
        time.sleep(3)
        self.reply(b"late")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients here abandon bodies on purpose; the broken pipe is expected."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_fetches_a_document(server: str) -> None:
    document = fetch_url(f"{server}/feed", LOCAL)
    assert document.content == FEED
    assert document.content_type == "application/rss+xml"
    assert document.name == f"{server}/feed"
    assert Handler.user_agents[-1] == LOCAL.user_agent


def test_follows_redirects_and_names_the_final_url(server: str) -> None:
    document = fetch_url(f"{server}/redirect?to=/feed", LOCAL)
    assert document.name == f"{server}/feed"
    assert document.content == FEED


def test_gzip_is_decoded_within_bounds(server: str) -> None:
    assert fetch_url(f"{server}/gzip-ok", LOCAL).content == FEED
    with pytest.raises(ReadError, match="over the limit"):
        fetch_url(f"{server}/gzip-bomb", LOCAL)


def test_too_many_redirects(server: str) -> None:
    with pytest.raises(ReadError, match="more than 5 redirects"):
        fetch_url(f"{server}/loop", LOCAL)


@pytest.mark.parametrize("path", ["/big", "/chunked-big"])
def test_oversize_bodies_are_abandoned(server: str, path: str) -> None:
    small = FetchSettings(allow_private=True, max_bytes=1000, timeout_seconds=5)
    with pytest.raises(ReadError, match="over the limit of 1000 bytes"):
        fetch_url(server + path, small)


def test_total_timeout(server: str) -> None:
    started = time.monotonic()
    with pytest.raises(ReadError, match="fetch failed"):
        fetch_url(f"{server}/slow", FetchSettings(allow_private=True, timeout_seconds=0.5))
    assert time.monotonic() - started < 2.5


def test_http_errors(server: str) -> None:
    with pytest.raises(ReadError, match="HTTP 404"):
        fetch_url(f"{server}/missing", LOCAL)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:{port}/feed", "http://localhost:{port}/feed", "http://[::1]:{port}/feed",
     "http://0.0.0.0:{port}/feed", "http://2130706433:{port}/feed",
     "http://[::ffff:127.0.0.1]:{port}/feed"],
)  # fmt: skip
def test_loopback_is_refused_by_default(server: str, url: str) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(ReadError, match=r"refused: .*non-public address"):
        fetch_url(url.format(port=port), FetchSettings())


def test_redirect_to_an_internal_address_is_refused(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Let the test server count as public; the hop it redirects to must still be checked."""
    original = fetch.forbidden_reason

    def test_server_is_public(address: Any) -> str | None:
        return None if str(address) == "127.0.0.1" else original(address)

    monkeypatch.setattr(fetch, "forbidden_reason", test_server_is_public)
    assert fetch_url(f"{server}/feed", FetchSettings()).content == FEED
    port = server.rsplit(":", 1)[1]
    for target in (f"http://127.0.0.2:{port}/feed", f"http://[::1]:{port}/", "http://10.0.0.1/"):
        with pytest.raises(ReadError, match="refused"):
            fetch_url(f"{server}/redirect?to={target}", FetchSettings())
    with pytest.raises(ReadError, match="only http and https"):
        fetch_url(f"{server}/redirect?to=file:///etc/passwd", FetchSettings())


def test_connection_goes_to_the_checked_address(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolution happens once, in the guarded backend, and that answer is what is dialled."""
    port = int(server.rsplit(":", 1)[1])
    lookups: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            lookups.append(host)
            return real("127.0.0.1", port, type=socket.SOCK_STREAM)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(ReadError, match=r"rebind\.test resolves to a non-public address"):
        fetch_url(f"http://rebind.test:{port}/feed", FetchSettings())
    assert fetch_url(f"http://rebind.test:{port}/feed", LOCAL).content == FEED
    assert lookups == ["rebind.test", "rebind.test"]


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.org/x", "gopher://example.org/", "data:text/plain,hi",
     "javascript:alert(1)", "feed://example.org/rss", "not a url", "http://", ""],
)  # fmt: skip
def test_other_schemes_and_bad_urls_are_refused(url: str, no_network: None) -> None:
    with pytest.raises(ReadError):
        fetch_url(url, FetchSettings())


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1",
     "ff02::1", "::ffff:10.0.0.1", "2002:7f00:1::", "64:ff9b::a9fe:a9fe"],
)  # fmt: skip
def test_forbidden_addresses(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


PRIVATE_V4 = st.sampled_from(
    ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
     "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"]
).flatmap(lambda net: st.ip_addresses(network=net))  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(PRIVATE_V4)
def test_any_internal_ipv4_is_refused_plain_or_wrapped_in_ipv6(address: Any) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80))
    for candidate in (address, mapped, nat64, sixtofour):
        assert forbidden_reason(candidate) is not None, candidate


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9+.\-]{0,10}", fullmatch=True), st.text(max_size=30))
def test_any_other_scheme_is_refused_without_network(scheme: str, rest: str) -> None:
    if scheme in ("http", "https"):
        return
    with pytest.raises(ReadError):
        fetch_url(f"{scheme}://{rest}", FetchSettings())
