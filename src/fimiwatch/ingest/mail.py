"""Email: single messages (.eml) and mailboxes (.mbox), with the facts phishing triage needs.

Mail is the most hostile input fimiwatch reads, so this module only *looks*: nothing a message
references is fetched (a fetched tracking pixel tells the sender the mail was read) and
attachments are never opened, extracted or run — they are hashed, typed from their first bytes,
and for zip archives the central directory's member names are read. Every dimension is
bounded: message size, MIME parts and containers (cut *before* parsing, as the stdlib parser
is slow on thousands of parts and recursive on nesting), headers read, text length, list sizes.
Bad encodings decode with replacement characters; a message the stdlib cannot parse becomes a
reject, never a crash.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import struct
from collections.abc import Callable, Iterator
from datetime import UTC
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import partial
from itertools import islice
from typing import IO, Any, ClassVar, TypeVar

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import Batch, InputDocument, ReadError, make_batch
from fimiwatch.ingest.htmltext import HtmlContent, read_html, unique, urls_in_text
from fimiwatch.ingest.ids import bounded_id

MAX_HEADERS = 1000
"""Headers of a message looked at; later ones are ignored (flag ``headers``)."""
MAX_LISTED = 50
"""Entries kept per listed header (Received, Authentication-Results, addresses)."""
MAX_HEADER_CHARS = 8192
MAX_CONTAINERS = 64
"""multipart/* and message/* parts parsed per message; bounds MIME nesting depth too."""
MAX_ZIP_MEMBERS = 1000
MAX_NAME_CHARS = 1024
MESSAGES_PER_BATCH = 1000
MBOX_LINE_BYTES = 64 * 1024

_PARSER = BytesParser(policy=policy.default)
_STRUCTURE = re.compile(rb"^--|multipart/|message/", re.IGNORECASE | re.MULTILINE)
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_MAIL_HEADERS = (b"received:", b"from:", b"message-id:", b"return-path:", b"mime-version:")
_ESCAPED_FROM = re.compile(rb">+From ")
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"PK\x03\x04", "zip"), (0, b"PK\x05\x06", "zip"), (0, b"PK\x07\x08", "zip"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"), (0, b"%PDF-", "pdf"),
    (0, b"L\x00\x00\x00\x01\x14\x02\x00", "lnk"), (0, b"MZ", "pe"), (0, b"\x7fELF", "elf"),
    (0, b"Rar!\x1a\x07", "rar"), (0, b"7z\xbc\xaf\x27\x1c", "7z"), (0, b"\x1f\x8b", "gzip"),
    (0, b"MSCF", "cab"), (0, b"{\\rtf", "rtf"), (0, b"conectix", "vhd"), (0, b"vhdxfile", "vhdx"),
    (0, b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3", "onenote"),
    (0, b"\x89PNG", "png"), (0, b"\xff\xd8\xff", "jpeg"), (0, b"GIF8", "gif"),
    (0x8001, b"CD001", "iso"), (0x8801, b"CD001", "iso"), (0x9001, b"CD001", "iso"),
    (0x8001, b"BEA01", "iso"),
)  # fmt: skip
_SLOW_CODECS = frozenset({"punycode", "idna"})
_HTML_START = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script")

T = TypeVar("T")


class EmlReader:
    name: ClassVar[str] = "eml"
    platform: ClassVar[str] = "email"
    requires_published_at: ClassVar[bool] = False

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        if name.lower().endswith(".eml"):
            return 90
        if head.startswith(b"From ") or not _HEADER_LINE.match(head):
            return 0
        found = sum(header in head.lower() for header in _MAIL_HEADERS)
        return min(40 + 15 * found, 85) if found else 0

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        raw = document.read_bounded(settings.max_document_bytes)
        yield _batch([(1, raw)], settings)


class MboxReader:
    name: ClassVar[str] = "mbox"
    platform: ClassVar[str] = "email"
    requires_published_at: ClassVar[bool] = False

    @classmethod
    def sniff(cls, name: str, head: bytes) -> int:
        if name.lower().endswith(".mbox"):
            return 90
        return 85 if head.startswith(b"From ") and b"\n" in head else 0

    def read(self, document: InputDocument, settings: IngestSettings) -> Iterator[Batch]:
        if document.size() > settings.max_file_bytes:
            raise ReadError(f"{document.name}: over the limit of {settings.max_file_bytes} bytes")
        with document.open() as handle:
            messages = mbox_messages(handle, settings.max_document_bytes, document.name)
            while chunk := list(islice(messages, MESSAGES_PER_BATCH)):
                yield _batch(chunk, settings)


def mbox_messages(
    handle: IO[bytes], max_bytes: int, name: str
) -> Iterator[tuple[int, bytes | None]]:
    """``(message number, raw message)``; ``None`` for a message over ``max_bytes``.

    Reads a bounded line at a time, so neither a huge mailbox nor a huge line is held whole.
    """
    number, size, at_line_start = 0, 0, True
    parts: list[bytes] = []
    for chunk in iter(partial(handle.readline, MBOX_LINE_BYTES), b""):
        if at_line_start and chunk.startswith(b"From "):
            if number:
                yield number, _joined(parts, size, max_bytes)
            number, parts, size = number + 1, [], 0
        elif not number:
            if chunk.strip():
                raise ReadError(f"{name}: not an mbox: the first line is not a 'From ' line")
        else:
            size += len(chunk)
            if size > max_bytes:
                parts.clear()  # only its number is reported; hold none of it
            else:
                unescape = at_line_start and _ESCAPED_FROM.match(chunk)
                parts.append(chunk[1:] if unescape else chunk)
        at_line_start = chunk.endswith(b"\n")
    if number:
        yield number, _joined(parts, size, max_bytes)


def _joined(parts: list[bytes], size: int, max_bytes: int) -> bytes | None:
    """The message, less the blank line mbox writers put before the next ``From `` line."""
    if size > max_bytes:
        return None
    raw = b"".join(parts)
    for blank in (b"\r\n", b"\n"):
        if raw.endswith(blank * 2):
            return raw[: -len(blank)]
    return raw


def _batch(messages: list[tuple[int, bytes | None]], settings: IngestSettings) -> Batch:
    rows: list[tuple[int, dict[str, Any]]] = []
    rejects: list[tuple[int | None, str, str]] = []
    for line, raw in messages:
        if raw is None:
            rejects.append((line, f"message over {settings.max_document_bytes} bytes", ""))
            continue
        record, reason = read_message(raw, settings)
        if record is None:
            rejects.append((line, reason, raw[:4096].decode("utf-8", "replace")))
        else:
            rows.append((line, record))
    return make_batch(rows, rejects)


def read_message(raw: bytes, settings: IngestSettings) -> tuple[dict[str, Any] | None, str]:
    """The item record of one raw message, or ``(None, reason)``."""
    bounded, cut = _cut_structure(raw, 2 * settings.max_mail_parts)
    try:
        message = _PARSER.parsebytes(bounded)
    except RecursionError:
        return None, "MIME structure nested too deeply to parse"
    except Exception as error:  # the stdlib parser on hostile bytes: anything may surface
        return None, clean_text(f"cannot be parsed as an email: {type(error).__name__}: {error}")
    if not message.keys():
        return None, "no mail headers found: not an email message"
    assert isinstance(message, EmailMessage)
    return _record(message, raw, cut, settings), ""


def _cut_structure(raw: bytes, max_delimiters: int) -> tuple[bytes, bool]:
    """``raw`` cut before the line where MIME delimiters or containers pass their bound."""
    delimiters = containers = 0
    for match in _STRUCTURE.finditer(raw):
        if match.group(0) == b"--":
            delimiters += 1
        else:
            containers += 1
        if delimiters > max_delimiters or containers > MAX_CONTAINERS:
            return raw[: raw.rfind(b"\n", 0, match.start()) + 1], True
    return raw, False


def _record(
    message: EmailMessage, raw: bytes, cut: bool, settings: IngestSettings
) -> dict[str, Any]:
    headers = list(islice(message.raw_items(), MAX_HEADERS + 1))
    view = _Headers(headers[:MAX_HEADERS])
    body = _Body.of(message, settings)
    senders = view.addresses("from")
    sender = senders[0] if senders else {}
    message_id = _strip_angles(view.first("message-id"))
    truncated = [
        name
        for name, hit in (("headers", len(headers) > MAX_HEADERS), *body.truncated.items())
        if hit
    ]
    return {
        "id": bounded_id(message_id, raw),
        "published_at": _date(view.first("date")) or _received_date(view.all("received")),
        "title": view.first("subject") or "(no subject)",
        "text": body.text or None,
        "account_id": (sender.get("address") or "").lower() or None,
        "account_name": sender.get("name") or None,
        "links": body.links,
        "mail": {
            "from": senders,
            "to": view.addresses("to"),
            "cc": view.addresses("cc"),
            "reply_to": view.addresses("reply-to"),
            "return_path": _strip_angles(view.first("return-path")),
            "message_id": message_id,
            "authentication_results": view.all("authentication-results"),
            "received": view.all("received"),
            "x_mailer": view.first("x-mailer"),
            "list_unsubscribe": view.first("list-unsubscribe"),
            "anchors": body.html_content.anchors,
            "images": body.html_content.images,
            "attachments": body.attachments,
            "html": body.html,
            "parts_truncated": cut or body.parts_truncated,
            "truncated": truncated,
        },
    }


class _Headers:
    """Decoded header values, read from raw text so a malformed header never raises."""

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self._items = items

    def all(self, name: str, limit: int = MAX_LISTED) -> list[str]:
        values = (_decode_header(n, v) for n, v in self._items if n.lower() == name)
        return [value for value in islice(values, limit) if value]

    def first(self, name: str) -> str | None:
        values = self.all(name, 1)
        return values[0] if values else None

    def addresses(self, name: str) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        for header_name, value in self._items:
            if header_name.lower() == name:
                found.extend(_parse_addresses(header_name, value))
            if len(found) >= MAX_LISTED:
                break
        return found[:MAX_LISTED]


def _decode_header(name: str, value: Any) -> str:
    """RFC 2047-decoded text; a value too long to parse safely is kept raw, clipped."""
    raw = str(value)
    if len(raw) > MAX_HEADER_CHARS:
        return " ".join(clean_text(raw[:MAX_HEADER_CHARS]).split())
    text = _attempt(lambda: str(policy.default.header_fetch_parse(name, raw)), raw)
    return " ".join(clean_text(text).split())[:MAX_HEADER_CHARS]


def _parse_addresses(name: str, value: Any) -> list[dict[str, str]]:
    """``{"name", "address"}`` per mailbox; the lenient stdlib splitter if the parser fails."""

    raw = str(value)
    pairs: list[tuple[str, str]] | None = None
    if len(raw) <= MAX_HEADER_CHARS:
        pairs = _attempt(lambda: _strict_addresses(name, raw), None)
    if pairs is None:
        unparsed: list[tuple[str, str]] = []
        pairs = _attempt(lambda: getaddresses([_decode_header(name, raw)]), unparsed)
    return [
        {"name": clean_text(display)[:MAX_NAME_CHARS], "address": clean_text(addr)[:MAX_NAME_CHARS]}
        for display, addr in pairs[:MAX_LISTED]
        if display or addr
    ]


def _strict_addresses(name: str, raw: str) -> list[tuple[str, str]]:
    header = policy.default.header_fetch_parse(name, raw)
    return [(a.display_name, a.addr_spec) for a in header.addresses]


def _date(value: str | None) -> str | None:
    """RFC 2822 date to ISO 8601 with its zone (an unknown zone, ``-0000``, read as UTC)."""
    if not value:
        return None
    moment = _attempt(lambda: parsedate_to_datetime(value), None)
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _received_date(received: list[str]) -> str | None:
    """When Date is missing: the time the nearest relay stamped (after the last ``;``)."""
    for header in received:
        if ";" in header:
            found = _date(header.rsplit(";", 1)[1].strip())
            if found:
                return found
    return None


def _strip_angles(value: str | None) -> str | None:
    stripped = (value or "").strip().strip("<>").strip()
    return stripped or None


class _Body:
    """Text, HTML, links and attachments found by a bounded, iterative walk of the parts."""

    def __init__(self, settings: IngestSettings) -> None:
        self.max_chars = settings.max_text_chars
        self.text: str | None = None
        self.html: str | None = None
        self.html_content = HtmlContent()
        self.attachments: list[dict[str, Any]] = []
        self.parts_truncated = False
        self.truncated = {"text": False, "html": False, "html_elements": False}
        self.links: list[str] = []

    @classmethod
    def of(cls, message: Message, settings: IngestSettings) -> _Body:
        body = cls(settings)
        for part in body._walk(message, settings.max_mail_parts):
            body._take(part)
        if body.html is not None:
            body.html_content = read_html(body.html)
            body.truncated["html_elements"] = body.html_content.truncated
        if body.text is None and body.html_content.text:
            body.text = body.html_content.text[: body.max_chars]
        body.links = unique(urls_in_text(body.text or "") + body.html_content.hrefs)
        return body

    def _walk(self, message: Message, max_parts: int) -> Iterator[Message]:
        """Parts depth-first in document order, at most ``max_parts``, without recursion."""
        stack: list[Message] = [message]
        seen = 0
        while stack:
            if seen >= max_parts:
                self.parts_truncated = True
                return
            part = stack.pop()
            seen += 1
            yield part
            children = part.get_payload() if part.is_multipart() else None
            if isinstance(children, list):
                kept = [c for c in children[:max_parts] if isinstance(c, Message)]
                stack.extend(reversed(kept))
                self.parts_truncated |= len(children) > max_parts

    def _take(self, part: Message) -> None:
        content_type = _attempt(part.get_content_type, "application/octet-stream")
        disposition = _attempt(part.get_content_disposition, None)
        filename = _attempt(part.get_filename, None)
        if content_type.startswith("multipart/") or (
            content_type == "message/rfc822" and not filename and disposition != "attachment"
        ):
            return
        is_body = disposition != "attachment" and not filename
        if is_body and content_type == "text/plain" and self.text is None:
            self.text, self.truncated["text"] = self._decoded_text(part)
        elif is_body and content_type == "text/html" and self.html is None:
            self.html, self.truncated["html"] = self._decoded_text(part)
        elif not (is_body and content_type.startswith("text/")):
            self.attachments.append(_attachment(part, content_type, filename))

    def _decoded_text(self, part: Message) -> tuple[str, bool]:
        payload = _payload(part)
        codec = _codec(_attempt(part.get_content_charset, None))
        text = clean_text(_attempt(lambda: payload.decode(codec, "replace"), None) or "")
        return text[: self.max_chars], len(text) > self.max_chars


def _codec(charset: str | None) -> str:
    """The declared charset if Python knows it as a safe text codec, else UTF-8.

    punycode (and idna, built on it) decode in quadratic time: a 1 MB part would take minutes.
    """
    name = _attempt(lambda: codecs.lookup(charset or "utf-8").name, "utf-8")
    return "utf-8" if name in _SLOW_CODECS else name


def _payload(part: Message) -> bytes:
    """The transfer-decoded bytes of a leaf part (a nested message: its serialised form)."""
    if part.is_multipart():
        inner = part.get_payload()
        first = inner[0] if isinstance(inner, list) and inner else None
        if not isinstance(first, Message):
            return b""
        return _attempt(lambda: first.as_bytes(policy=policy.compat32), b"")
    decoded: Any = _attempt(lambda: part.get_payload(decode=True), None)
    return decoded if isinstance(decoded, bytes) else b""


def _attachment(part: Message, content_type: str, filename: str | None) -> dict[str, Any]:
    """What an attachment is, learned without opening it."""
    payload = _payload(part)
    detected = detect_type(payload)
    facts: dict[str, Any] = {
        "filename": clean_text(filename)[:MAX_NAME_CHARS] if filename else None,
        "content_type": content_type,
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "detected_type": detected,
    }
    if detected == "zip":
        facts.update(zip_directory(payload))
    return facts


def detect_type(data: bytes) -> str | None:
    """The file type given away by magic bytes (what the sender declared is not trusted)."""
    for offset, magic, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return kind
    if data[:1024].lstrip().lower().startswith(_HTML_START):
        return "html"
    return None


def zip_directory(data: bytes) -> dict[str, Any]:
    """Member names and encryption flag from a zip's central directory; nothing is extracted.

    The end-of-central-directory record is searched in the last 64 KiB and at most
    :data:`MAX_ZIP_MEMBERS` entries are read; zip64 and damaged archives report no members.
    """
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or len(data) < end + 22:
        return {"zip_members": None}
    count, size, offset = struct.unpack_from("<HII", data, end + 10)
    if count == 0xFFFF or offset == 0xFFFFFFFF:
        return {"zip_members": None}
    if data[offset : offset + 4] != b"PK\x01\x02":
        offset = end - size  # data prepended to the archive (self-extractors)
    names: list[str] = []
    encrypted = False
    for _ in range(min(count, MAX_ZIP_MEMBERS)):
        if offset < 0 or data[offset : offset + 4] != b"PK\x01\x02" or offset + 46 > len(data):
            break
        flags = struct.unpack_from("<H", data, offset + 8)[0]
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, offset + 28)
        name = data[offset + 46 : offset + 46 + name_length]
        names.append(name.decode("utf-8" if flags & 0x800 else "cp437", "replace")[:MAX_NAME_CHARS])
        encrypted |= bool(flags & 0x1)
        offset += 46 + name_length + extra_length + comment_length
    return {
        "zip_members": names,
        "zip_members_truncated": count > len(names),
        "zip_encrypted": encrypted,
    }


def clean_text(text: str) -> str:
    """Valid Unicode from parser output: raw 8-bit bytes decoded as UTF-8, junk replaced."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _attempt(action: Callable[[], T], default: T) -> T:
    """``action()``, or ``default`` when the stdlib email code fails on a hostile value.

    The header and MIME helpers raise a wide, undocumented range of errors on malformed
    input (IndexError, ValueError, LookupError, AttributeError…); any of them means
    "unknown here", never "stop reading the mailbox".
    """
    try:
        return action()
    except Exception:
        return default
