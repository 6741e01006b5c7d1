"""Fetch one feed or page from a URL without letting the URL reach inside the network.

A URL given to fimiwatch may come from an adversary (a feed list, a link in a post), so every
hop is checked: http/https only; the host is resolved once, every address it resolves to must
be public (not private, loopback, link-local, multicast, reserved, unspecified or shared/CGNAT,
including IPv4 embedded in IPv6), and the connection is then made to one of *those checked
addresses*, with the original host name kept for the Host header, TLS SNI and certificate check.
Pinning the address this way (a guarded httpcore network backend) closes the DNS-rebinding
window in which a second lookup could return an internal address. Redirects are followed by
hand, each hop checked again; the body is streamed (gzip/deflate decoded here, with an output
bound) and abandoned past ``max_bytes``. The whole fetch shares one deadline: every network
wait is limited to the time left when its request started and the deadline is checked after
each chunk, so a server dripping bytes is cut off within about twice ``timeout_seconds``.
Environment proxies are ignored: a proxy would resolve the name itself and bypass the check.
Name resolution uses the system resolver, whose own timeout is not under this deadline.

:func:`fetch` also makes conditional requests for the monitor (``fimiwatch watch``): it sends
the ETag and Last-Modified validators of the previous fetch, and a 304 answer costs no body.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpcore
import httpx

from fimiwatch.config import FetchSettings
from fimiwatch.ingest.base import InputDocument, ReadError

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Refused(Exception):
    """A hop the policy does not allow; becomes a ReadError naming the URL."""


class _Failed(Exception):
    """A response that cannot be used (error status, broken encoding, deadline passed)."""


def fetch_url(url: str, settings: FetchSettings) -> InputDocument:
    """GET ``url`` under ``settings``' limits; the document is named by the final URL."""
    result = fetch(url, settings)
    assert result.document is not None  # no validators were sent, so never "not modified"
    return result.document


@dataclass(frozen=True)
class FetchResult:
    """One conditional GET: the document, or None when the server answered 304 Not Modified.

    ``etag`` and ``last_modified`` are the validators to send next time (the server's new ones,
    or on a 304 without them, the ones that were sent).
    """

    url: str
    """The final URL, after redirects."""
    status: int
    document: InputDocument | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def fetch(
    url: str,
    settings: FetchSettings,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """GET ``url`` like :func:`fetch_url`, sending ``If-None-Match`` / ``If-Modified-Since``
    when validators from an earlier fetch are given; a 304 answer gives no document."""
    deadline = time.monotonic() + settings.timeout_seconds
    target = _checked_url(url)
    transport = _GuardedTransport(settings.allow_private)
    headers = {"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"}
    conditional = {
        name: value
        for name, value in (("If-None-Match", etag), ("If-Modified-Since", last_modified))
        if value and _usable_validator(value)
    }
    with httpx.Client(transport=transport, trust_env=False, headers=headers) as client:
        for _ in range(settings.max_redirects + 1):
            result = _hop(client, target, settings.max_bytes, deadline, conditional)
            if isinstance(result, _Answer):
                document = None
                if result.status != 304:
                    document = InputDocument(
                        name=str(target), content=result.body, content_type=result.content_type
                    )
                return FetchResult(
                    url=str(target),
                    status=result.status,
                    document=document,
                    etag=_validator(result.etag) or (etag if result.status == 304 else None),
                    last_modified=_validator(result.last_modified)
                    or (last_modified if result.status == 304 else None),
                )
            target = _checked_url(str(result))
    raise ReadError(f"{url}: more than {settings.max_redirects} redirects")


MAX_VALIDATOR_CHARS = 512


def _usable_validator(value: str) -> bool:
    return len(value) <= MAX_VALIDATOR_CHARS and value.isprintable() and value.isascii()


def _validator(value: str | None) -> str | None:
    """A server's ETag or Last-Modified, kept only when it is short printable ASCII (it is sent
    back in a header, so nothing that could break one)."""
    return value if value and _usable_validator(value) else None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None


def _hop(
    client: httpx.Client,
    url: httpx.URL,
    max_bytes: int,
    deadline: float,
    conditional: dict[str, str] | None = None,
) -> httpx.URL | _Answer:
    try:
        return _get(client, url, max_bytes, deadline, conditional or {})
    except _Refused as error:
        raise ReadError(f"{url}: refused: {error}") from None
    except (_Failed, httpx.HTTPError, httpx.InvalidURL) as error:
        raise ReadError(f"{url}: fetch failed: {str(error) or type(error).__name__}") from None


def _checked_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise ReadError(f"{url}: not a valid URL: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise ReadError(f"{url}: refused: only http and https URLs are fetched")
    if not parsed.host:
        raise ReadError(f"{url}: refused: no host")
    return parsed


def _get(
    client: httpx.Client,
    url: httpx.URL,
    max_bytes: int,
    deadline: float,
    conditional: dict[str, str],
) -> httpx.URL | _Answer:
    """The answer (body, content type, validators), or the next URL on a redirect."""
    request = client.build_request("GET", url, headers=conditional, timeout=_remaining(deadline))
    response = client.send(request, stream=True)
    try:
        if response.status_code in _REDIRECTS and "location" in response.headers:
            return url.join(response.headers["location"])
        validators = (response.headers.get("etag"), response.headers.get("last-modified"))
        if response.status_code == 304 and conditional:
            return _Answer(304, b"", None, *validators)
        if not response.is_success:
            raise _Failed(f"HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _Refused(f"body of {declared} bytes is over the limit of {max_bytes} bytes")
        body = _read_body(response, max_bytes, deadline)
        return _Answer(
            response.status_code, body, response.headers.get("content-type"), *validators
        )
    finally:
        response.close()


def _read_body(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    """The raw body, decompressed here with an output bound (httpx's decoders have none)."""
    decoder = _decoder(response.headers.get("content-encoding", "identity"))
    chunks: list[bytes] = []
    size = 0
    for raw in response.iter_raw():
        chunk = raw if decoder is None else decoder.decompress(raw, max_bytes + 1 - size)
        size += len(chunk)
        if size > max_bytes or (decoder is not None and decoder.unconsumed_tail):
            raise _Refused(f"body is over the limit of {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise _Failed("total time limit reached")
        chunks.append(chunk)
    return b"".join(chunks)


def _decoder(encoding: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise _Failed(f"unsupported content encoding {encoding!r}")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Failed("total time limit reached")
    return left


def forbidden_reason(address: Address) -> str | None:
    """Why fetching from ``address`` is not allowed, or None for a public address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return forbidden_reason(embedded)
    checks = (
        ("loopback", address.is_loopback),
        ("private", address.is_private),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("unspecified", address.is_unspecified),
        ("shared (CGNAT)", address in _SHARED),
        ("not globally routable", not address.is_global),
    )
    return next((f"{address} is {name}" for name, hit in checks if hit), None)


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return list(dict.fromkeys(addresses))


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves and checks the host, then connects to a checked address: pinned, no re-lookup."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        if not self.allow_private:
            reasons = [r for r in map(forbidden_reason, addresses) if r]
            if reasons:
                raise _Refused(f"{host} resolves to a non-public address: {reasons[0]}")
        error: Exception = httpcore.ConnectError(f"{host} has no addresses")
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as failure:
                error = failure
        raise error


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool that uses the guarded backend."""

    def __init__(self, allow_private: bool) -> None:
        ssl_context = _ssl_context()
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=_GuardedBackend(allow_private)
        )


@cache
def _ssl_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs tens of milliseconds."""
    return httpx.create_ssl_context()
