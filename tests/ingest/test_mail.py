from __future__ import annotations

import contextlib
import io
import struct
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.config import IngestSettings
from fimiwatch.ingest import mail
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.mail import EmlReader, MboxReader, detect_type, zip_directory

HTML = (
    "<html><head><style>.x{}</style></head><body><p>Dear member, please "
    '<a href="https://evil.example/login">https://www.europarl.europa.eu/</a> verify.</p>'
    '<img src="https://track.example/p.gif" width="1" height="1">'
    '<img src="cid:logo" style="display:none">'
    "<script>alert('SCRIPTTEXT')</script></body></html>"
)


def zip_bytes(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"payload " + name.encode())
    return buffer.getvalue()


def phish(
    html: str = HTML, text: str | None = "Please verify: https://evil.example/login?a=1."
) -> bytes:
    message = EmailMessage()
    message["From"] = '"EP IT Service" <It-Service@Evil.Example>'
    message["To"] = "mep@europarl.europa.eu, Assistant <a@europarl.europa.eu>"
    message["Cc"] = "c@x.example"
    message["Reply-To"] = "collect@evil2.example"
    message["Return-Path"] = "<bounce@evil3.example>"
    message["Subject"] = "=?utf-8?b?w4l0YXQgZHUgY29tcHRl?="
    message["Date"] = "Tue, 05 Mar 2024 14:30:00 +0100"
    message["Message-ID"] = "<abc123@evil.example>"
    message["Received"] = "from mx1 by mx2; Tue, 05 Mar 2024 14:30:00 +0100"
    message["Received"] = "from evil by mx1; Tue, 05 Mar 2024 14:29:00 +0100"
    message["Authentication-Results"] = "mx.europarl; spf=fail smtp.mailfrom=evil.example"
    message["Authentication-Results"] = "mx.europarl; dkim=none"
    message["X-Mailer"] = "PHPMailer 6.0"
    message["List-Unsubscribe"] = "<https://evil.example/unsub>"
    if text is not None:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    archive = zip_bytes(["invoice.pdf.lnk", "readme.txt"])
    message.add_attachment(archive, maintype="application", subtype="pdf", filename="invoice.pdf")
    message.add_attachment(b"MZ\x90\x00" + b"\x00" * 60, maintype="image", subtype="png",
                           filename="photo.png")  # fmt: skip
    return bytes(message)


def write(tmp_path: Path, content: bytes, name: str = "message.eml") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_phishing_message_facts(tmp_path: Path, read: Any, no_network: None) -> None:
    result = read(EmlReader, write(tmp_path, phish()))
    item = result.items[0]
    assert item["id"] == "abc123@evil.example"
    assert item["published_at"] == "2024-03-05T14:30:00+01:00"
    assert item["title"] == "État du compte"
    assert item["account_id"] == "it-service@evil.example"
    assert item["account_name"] == "EP IT Service"
    assert item["text"].startswith("Please verify: https://evil.example/login?a=1.")
    assert item["links"] == ["https://evil.example/login?a=1", "https://evil.example/login"]
    facts = result.extra()["mail"]
    assert facts["from"] == [{"name": "EP IT Service", "address": "It-Service@Evil.Example"}]
    assert facts["to"][1] == {"name": "Assistant", "address": "a@europarl.europa.eu"}
    assert facts["cc"] == [{"name": "", "address": "c@x.example"}]
    assert facts["reply_to"] == [{"name": "", "address": "collect@evil2.example"}]
    assert facts["return_path"] == "bounce@evil3.example"
    assert facts["message_id"] == "abc123@evil.example"
    assert facts["authentication_results"] == [
        "mx.europarl; spf=fail smtp.mailfrom=evil.example",
        "mx.europarl; dkim=none",
    ]
    assert len(facts["received"]) == 2 and facts["received"][1].startswith("from evil")
    assert facts["x_mailer"] == "PHPMailer 6.0"
    assert facts["list_unsubscribe"] == "<https://evil.example/unsub>"
    assert facts["anchors"] == [
        {"text": "https://www.europarl.europa.eu/", "href": "https://evil.example/login"}
    ]
    pixel, hidden = facts["images"]
    assert pixel["src"] == "https://track.example/p.gif" and pixel["tiny"] and not pixel["hidden"]
    assert hidden["hidden"] and not hidden["tiny"]
    assert "SCRIPTTEXT" in facts["html"]  # raw HTML kept as evidence, never rendered here
    archive, executable = facts["attachments"]
    assert archive["filename"] == "invoice.pdf"
    assert archive["content_type"] == "application/pdf"
    assert archive["detected_type"] == "zip"
    assert archive["zip_members"] == ["invoice.pdf.lnk", "readme.txt"]
    assert archive["zip_encrypted"] is False
    assert len(archive["sha256"]) == 64 and archive["size"] > 0
    assert executable["content_type"] == "image/png" and executable["detected_type"] == "pe"
    assert facts["parts_truncated"] is False and facts["truncated"] == []


def test_html_only_message_text_has_no_script(tmp_path: Path, read: Any) -> None:
    item = read(EmlReader, write(tmp_path, phish(text=None))).items[0]
    assert "SCRIPTTEXT" not in item["text"] and ".x{}" not in item["text"]
    assert item["text"].startswith("Dear member, please https://www.europarl.europa.eu/ verify.")
    assert "https://evil.example/login" in item["links"]


def test_minimal_and_odd_headers(tmp_path: Path, read: Any) -> None:
    raw = b"Subject: hi\nDate: not a date\n\nbody https://x.example/a\n"
    item = read(EmlReader, write(tmp_path, raw)).items[0]
    assert item["id"].startswith("sha256:")
    assert item["published_at"] is None and item["account_id"] is None
    assert item["links"] == ["https://x.example/a"]
    again = read(EmlReader, write(tmp_path, raw, "copy.eml")).items[0]
    assert again["id"] == item["id"]
    zone_less = b"Date: Tue, 05 Mar 2024 14:30:00 -0000\nSubject: x\n\nx"
    assert read(EmlReader, zone_less).items[0]["published_at"] == "2024-03-05T14:30:00+00:00"


def test_bad_encodings_decode_with_replacement(tmp_path: Path, read: Any) -> None:
    raw = (
        b"From: \xff\xfe Bad <a@b.example>\n"
        b"Subject: =?x-unknown?q?abc?= caf\xc3\xa9 \xe9\n"
        b"To: =?utf-8?b?!!!notbase64?= <c@d.example>\n"
        b"Content-Type: multipart/mixed; boundary=x\n\n"
        b"--x\nContent-Type: text/plain; charset=no-such-charset\n\ncaf\xc3\xa9 \xff\n"
        b"--x\nContent-Type: text/html; charset=rot13\n\n<p>\xe9t\xe9</p>\n"
        b"--x\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="=?bogus?q?x?="\n\n!!!%%%not base64\n'
        b"--x--\n"
    )
    result = read(EmlReader, write(tmp_path, raw))
    item = result.items[0]
    assert item["text"].startswith("café \ufffd")
    assert "café" in item["title"]
    assert result.extra()["mail"]["attachments"][0]["content_type"] == "application/zip"


def test_punycode_charset_is_not_decoded_slowly(read: Any) -> None:
    body = ("a" * 60_000 + "é" * 60_000).encode("punycode")
    raw = b"From: a@b.example\nContent-Type: text/plain; charset=punycode\n\n" + body
    started = time.monotonic()
    read(EmlReader, raw)
    assert time.monotonic() - started < 2


def test_mime_bomb_many_parts_is_bounded(read: Any) -> None:
    parts = b"".join(
        b"--x\nContent-Type: application/octet-stream\n"
        b"Content-Disposition: attachment; filename=f%d.bin\n\npart\n" % i
        for i in range(20_000)
    )
    raw = b"From: a@b.example\nContent-Type: multipart/mixed; boundary=x\n\n" + parts + b"--x--\n"
    started = time.monotonic()
    result = read(EmlReader, raw)
    assert time.monotonic() - started < 3
    facts = result.extra()["mail"]
    assert facts["parts_truncated"] is True
    assert len(facts["attachments"]) < IngestSettings().max_mail_parts


def test_mime_bomb_deep_nesting_is_bounded(read: Any) -> None:
    levels = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(5000)
    )
    raw = b"From: a@b.example\nMIME-Version: 1.0\n" + levels + b"Content-Type: text/plain\n\nhi\n"
    started = time.monotonic()
    result = read(EmlReader, raw)
    assert time.monotonic() - started < 3
    assert result.extra()["mail"]["parts_truncated"] is True


def test_parts_walk_stops_at_max_mail_parts(read: Any) -> None:
    parts = b"".join(
        b"--x\nContent-Type: image/gif\n"
        b"Content-Disposition: attachment; filename=%d.gif\n\nGIF89a\n" % i
        for i in range(30)
    )
    raw = b"From: a@b.example\nContent-Type: multipart/mixed; boundary=x\n\n" + parts + b"--x--\n"
    facts = read(EmlReader, raw, IngestSettings(max_mail_parts=10)).extra()["mail"]
    assert facts["parts_truncated"] is True
    assert len(facts["attachments"]) <= 10
    assert facts["attachments"][0]["detected_type"] == "gif"


def test_headers_and_lists_are_bounded(read: Any) -> None:
    received = b"".join(b"Received: from hop%d by x\n" % i for i in range(mail.MAX_LISTED + 10))
    junk = b"X-Junk: y\n" * mail.MAX_HEADERS
    raw = received + b"Subject: " + b"s" * 100_000 + b"\n" + junk + b"From: late@x.example\n\nbody"
    result = read(EmlReader, raw)
    facts = result.extra()["mail"]
    assert len(facts["received"]) == mail.MAX_LISTED
    assert "headers" in facts["truncated"]
    assert facts["from"] == []  # beyond the header bound: not looked at
    assert len(result.items[0]["title"]) <= mail.MAX_HEADER_CHARS


def test_text_and_html_are_bounded(read: Any) -> None:
    message = EmailMessage()
    message["From"] = "a@b.example"
    message.set_content("t" * 5000)
    message.add_alternative("<p>" + "h" * 5000 + "</p>", subtype="html")
    result = read(EmlReader, bytes(message), IngestSettings(max_text_chars=1000))
    facts = result.extra()["mail"]
    assert len(result.items[0]["text"]) == 1000 and len(facts["html"]) == 1000
    assert set(facts["truncated"]) == {"text", "html"}


def test_unparseable_message_is_a_reject(tmp_path: Path, read: Any) -> None:
    result = read(EmlReader, write(tmp_path, b"\x00\x01\x02 not a message"))
    assert result.items == []
    assert result.rejects[0]["line"] == 1
    assert "no mail headers" in result.rejects[0]["reason"]


def test_oversize_message_is_refused(tmp_path: Path, read: Any) -> None:
    with pytest.raises(ReadError, match="over the limit"):
        read(EmlReader, write(tmp_path, phish()), IngestSettings(max_document_bytes=100))


def test_mbox(tmp_path: Path, read: Any) -> None:
    mbox = (
        b"From sender@x Tue Mar  5 14:30:00 2024\n"
        + phish()
        + b"\n\nFrom b@x Tue Mar  5 14:31:00 2024\n"
        b"From: b@x.example\nMessage-ID: <m2@x>\n\nline\n>From the escaped line\n\n"
        b"From c@x Tue Mar  5 14:32:00 2024\n"
        b"\x00\x01 garbage without headers\n"
        b"From d@x Tue Mar  5 14:33:00 2024\n"
        b"From: d@x.example\nMessage-ID: <m4@x>\n\n" + b"y" * 5000 + b"\n"
        b"From e@x Tue Mar  5 14:34:00 2024\n"
        b"From: e@x.example\nMessage-ID: <m5@x>\n\nlast\n"
    )
    result = read(
        MboxReader, write(tmp_path, mbox, "box.mbox"), IngestSettings(max_document_bytes=2000)
    )
    assert [(i["line"], i["id"]) for i in result.items] == [(2, "m2@x"), (5, "m5@x")]
    assert result.items[0]["text"] == "line\nFrom the escaped line\n"
    assert [(r["line"], r["reason"].split(":")[0]) for r in result.rejects] == [
        (1, "message over 2000 bytes"),
        (3, "no mail headers found"),
        (4, "message over 2000 bytes"),
    ]
    everything = read(MboxReader, write(tmp_path, mbox, "box.mbox"))
    assert [i["line"] for i in everything.items] == [1, 2, 4, 5]


def test_not_an_mbox(tmp_path: Path, read: Any) -> None:
    with pytest.raises(ReadError, match=r"odd\.mbox: not an mbox"):
        read(MboxReader, write(tmp_path, b"\n\nSubject: no From line\n\nx", "odd.mbox"))
    assert read(MboxReader, write(tmp_path, b"", "empty.mbox")).items == []


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"PK\x03\x04rest", "zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "ole"),
        (b"%PDF-1.7", "pdf"),
        (b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0", "lnk"),
        (b"MZ\x90\x00", "pe"),
        (b"\x7fELF\x02", "elf"),
        (b"\x00" * 0x8001 + b"CD001", "iso"),
        (b"  <!DOCTYPE html><html>", "html"),
        (b"plain text", None),
        (b"", None),
    ],
)
def test_detect_type(data: bytes, kind: str | None) -> None:
    assert detect_type(data) == kind


def test_zip_directory_is_bounded_and_never_extracts(tmp_path: Path) -> None:
    many = zip_bytes([f"f{i}.txt" for i in range(mail.MAX_ZIP_MEMBERS + 5)])
    facts = zip_directory(many)
    assert len(facts["zip_members"]) == mail.MAX_ZIP_MEMBERS
    assert facts["zip_members_truncated"] is True
    assert zip_directory(b"PK\x03\x04 truncated archive") == {"zip_members": None}
    assert zip_directory(b"junk" + zip_bytes(["a.js"]))["zip_members"] == ["a.js"]
    encrypted = bytearray(zip_bytes(["secret.exe"]))
    central = encrypted.find(b"PK\x01\x02")
    struct.pack_into("<H", encrypted, central + 8, 0x1)
    assert zip_directory(bytes(encrypted))["zip_encrypted"] is True
    assert list(tmp_path.iterdir()) == []


def test_sniff() -> None:
    assert EmlReader.sniff("x.eml", b"") >= 90
    assert EmlReader.sniff("x", b"Received: from a\nFrom: b@c\nMessage-ID: <x>\n") >= 70
    assert EmlReader.sniff("x", b"From a@b Tue Mar 5\nFrom: x\n") == 0
    assert MboxReader.sniff("x", b"From a@b Tue Mar 5\nFrom: x\n") >= 80
    assert MboxReader.sniff("inbox.mbox", b"") >= 90
    for reader in (EmlReader, MboxReader):
        assert reader.sniff("items.jsonl", b'{"id": "1"}') == 0
        assert reader.sniff("items.csv", b"id,published_at,text\n") == 0


HEADER_NAMES = st.sampled_from(
    ["From", "To", "Cc", "Reply-To", "Return-Path", "Subject", "Date", "Message-ID", "Received",
     "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "X-Mailer"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(HEADER_NAMES, st.text(max_size=60)), min_size=1, max_size=8),
    st.binary(max_size=200),
    st.booleans(),
)
def test_any_header_strings_yield_valid_batches(
    read: Any, headers: list[tuple[str, str]], body: bytes, as_mbox: bool
) -> None:
    lines = b"".join(
        f"{name}: {value}\n".encode("utf-8", "surrogatepass") for name, value in headers
    )
    raw = lines + b"\n" + body
    result = read(MboxReader, b"From x\n" + raw) if as_mbox else read(EmlReader, raw)
    assert len(result.items) + len(result.rejects) >= 1


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"From: a@b\n", b"From x\n"]))
def test_any_bytes_yield_valid_batches_or_read_error(read: Any, data: bytes, prefix: bytes) -> None:
    for reader in (EmlReader, MboxReader):
        with contextlib.suppress(ReadError):
            read(reader, prefix + data)


def test_missing_date_falls_back_to_received_then_to_none(read: Any) -> None:
    received = (
        b"Received: from relay.example by mx.example; Tue, 14 May 2024 09:30:00 +0200\r\n"
        b"From: a@example.org\r\nTo: b@example.org\r\n\r\nbody\r\n"
    )
    result = read(EmlReader, received)
    assert result.items[0]["published_at"] == "2024-05-14T09:30:00+02:00"
    assert result.items[0]["title"] == "(no subject)"
    bare = read(EmlReader, b"From: a@example.org\r\nTo: b@example.org\r\n\r\n")
    assert bare.items[0]["published_at"] is None
    assert EmlReader.requires_published_at is False
