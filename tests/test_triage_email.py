"""Email triage: each indicator, hostile mail, the CLI, and the phishing detector."""

from __future__ import annotations

import io
import json
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import ReadError
from fimiwatch.ingest.mail import read_message
from fimiwatch.triage.domains import builtin_references, imitation, unicode_host
from fimiwatch.triage.email import triage_file, triage_record
from tests.test_cli import fimiwatch

ROOT = Path(__file__).resolve().parents[1]
PASS = "mx.example; spf=pass smtp.mailfrom={d}; dkim=pass; dmarc=pass header.from={d}"


def mail(
    sender: str = "Jana Malá <jana.mala@example.org>",
    subject: str = "Hello",
    text: str = "Just a note.",
    html: str | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    headers: dict[str, str] | None = None,
    to: str = "Radim Kovanda <radim.kovanda@europarl.europa.eu>",
) -> bytes:
    message = EmailMessage()
    for key, value in (headers or {}).items():
        message[key] = value
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = "Tue, 21 May 2024 09:00:00 +0000"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for name, content_type, data in attachments:
        main, sub = content_type.split("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return message.as_bytes()


def judge(raw: bytes) -> tuple[str, dict[str, Any]]:
    record, reason = read_message(raw, IngestSettings())
    assert record is not None, reason
    verdict = triage_record(record)
    return verdict.verdict, {i.id: i for i in verdict.indicators}


def test_a_plain_mail_is_benign() -> None:
    assert judge(mail()) == ("benign", {})


def test_newsroom_name_on_free_mail_is_impersonation() -> None:
    verdict, found = judge(mail(sender="Reuters Brussels <reuters.desk@gmail.com>"))
    assert found["display-name-impersonation"].evidence["claims"] == ["reuters.com"]
    assert verdict == "suspicious"
    assert judge(mail(sender="Tom Reid, Reuters <tom.reid@reuters.com>"))[1] == {}


@pytest.mark.parametrize(
    ("host", "imitates"),
    [
        ("europarl-europa.eu", "europarl.europa.eu"),  # dots as hyphens
        ("psp.cz.login-portal.example", "psp.cz"),  # inside another domain
        ("xn--europa1-wgg.eu", "europarl.europa.eu"),  # punycode homoglyph: europaг1
        ("reuters.corn", "reuters.com"),  # edits
        ("polltico.eu", "politico.eu"),
    ],
)
def test_lookalike_domains(host: str, imitates: str) -> None:
    found = imitation(host, builtin_references())
    assert found is not None and found[0].domain == imitates


@pytest.mark.parametrize("host", ["europarl.europa.eu", "www.psp.cz", "news.example.org", ""])
def test_real_and_unrelated_domains_are_not_lookalikes(host: str) -> None:
    assert imitation(host, builtin_references()) is None


def test_punycode_decodes_and_bad_punycode_is_kept() -> None:
    assert unicode_host("xn--europa1-wgg.eu") == "europaг1.eu"
    assert unicode_host("xn--!!.eu") == "xn--!!.eu"


def test_reply_to_return_path_and_authentication() -> None:
    _, found = judge(mail(headers={
        "Reply-To": "x <x@proton.me>", "Return-Path": "<bounce@relay.example>",
        "Authentication-Results": "mx; spf=fail smtp.mailfrom=a; dkim=fail; dmarc=fail",
    }))  # fmt: skip
    assert found["reply-to-mismatch"].evidence["reply_to"] == "proton.me"
    assert found["return-path-mismatch"].weight == 0.1
    assert found["authentication-failure"].weight == 0.45  # capped
    assert "dmarc" in found["authentication-failure"].evidence["authentication"]


def test_tracking_pixel_with_recipient_is_malicious_but_newsletter_pixel_is_not() -> None:
    pixel = ('<img src="https://tracker.example/o.gif?r=radim.kovanda%40europarl.europa.eu" '
             'width="1" height="1">')  # fmt: skip
    verdict, found = judge(mail(html=f"<p>News</p>{pixel}"))
    assert verdict == "malicious" and found["tracking-pixel"].weight == 0.65
    newsletter = ('<img src="https://t.news.example/open/8f7e6d5c4b3a2f1e0d9c" width="1" '
                  'height="1">')  # fmt: skip
    verdict, found = judge(mail(
        sender="News <n@news.example>", html=newsletter,
        headers={"Authentication-Results": PASS.format(d="news.example"),
                 "List-Unsubscribe": "<https://news.example/u>"},
    ))  # fmt: skip
    assert verdict == "benign" and found["tracking-pixel"].weight == 0.03


def test_link_text_showing_another_domain_and_shorteners() -> None:
    html = ('<a href="https://evil.example/x">https://ecas.ec.europa.eu/cas</a>'
            '<a href="https://bit.ly/abc">slides</a>')  # fmt: skip
    _, found = judge(mail(html=html))
    assert found["link-text-mismatch"].evidence["shown"] == "ecas.ec.europa.eu"
    assert found["url-shortener"].evidence["shorteners"] == ["bit.ly"]
    _, same = judge(mail(html='<a href="https://www.psp.cz/a">www.psp.cz</a>'))
    assert "link-text-mismatch" not in same


def _zip(*names: str, encrypt: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    data = bytearray(buffer.getvalue())
    if encrypt:  # set the "encrypted" flag of the central directory entry
        at = data.find(b"PK\x01\x02")
        data[at + 8] |= 1
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "content_type", "data", "reason"),
    [
        ("Agenda.docm", "application/octet-stream", b"PK\x03\x04", ".docm runs code"),
        ("Report.pdf.lnk", "application/octet-stream", b"L\x00\x00\x00\x01\x14\x02\x00",
         "double extension"),
        ("form.iso", "application/octet-stream", b"\x00" * 0x8001 + b"CD001", ".iso"),
        ("Agenda.pdf", "application/pdf", b"MZ\x90\x00" + b"\x00" * 64, "its bytes are pe"),
        ("docs.zip", "application/zip", _zip("a.pdf", "run.js"), "the archive holds run.js"),
        ("docs.zip", "application/zip", _zip("a.pdf", encrypt=True), "encrypted archive"),
        ("docs.zip", "application/zip", _zip("a.pdf", "inner.zip"), "an archive inside"),
    ],
)  # fmt: skip
def test_risky_attachments(name: str, content_type: str, data: bytes, reason: str) -> None:
    _, found = judge(mail(attachments=((name, content_type, data),)))
    assert reason in found["risky-attachment"].description


def test_harmless_attachments_are_not_risky() -> None:
    harmless = (("a.pdf", "application/pdf", b"%PDF-1.7"),
                ("docs.zip", "application/zip", _zip("a.pdf", "b.pdf")))  # fmt: skip
    _, found = judge(mail(attachments=harmless))
    assert "risky-attachment" not in found


@pytest.mark.parametrize(
    ("text", "indicator"),
    [
        ("Please verify your account within 24 hours", "credential-request"),
        ("Ověřte svůj účet, jinak bude zrušen", "credential-request"),
        ("Ihr Passwort läuft ab", "credential-request"),
        ("Act immediately or lose access", "urgency"),
        ("Let us continue on WhatsApp", "private-channel"),
        ("All expenses covered for the seminar in Shenzhen", "paid-offer"),
        ("Enable editing to see the content", "enable-content-lure"),
    ],
)
def test_language_indicators(text: str, indicator: str) -> None:
    assert indicator in judge(mail(text=text))[1]


def test_a_journalists_ordinary_verification_question_is_not_a_credential_request() -> None:
    assert judge(mail(text="Dotaz k ověření informací ze schůze výboru."))[1] == {}


# --- hostile mail -------------------------------------------------------------------------


def test_malformed_and_hostile_mail_never_crashes(tmp_path: Path) -> None:
    huge_header = b"X-Junk: " + b"a" * 200_000 + b"\r\n"
    nested = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + (
        b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" * 500
    )
    bad_charset = (
        b"From: x@y.example\r\nSubject: =?x-unknown?B?////?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\n\xff\xfe\x00body"
    )
    for raw in (huge_header + mail(), nested, bad_charset, b"From: a@b\r\n\r\n" + b"\x00" * 1000):
        path = tmp_path / "m.eml"
        path.write_bytes(raw)
        try:
            verdict = triage_file(path)
        except ReadError:
            continue
        assert verdict.verdict in {"malicious", "suspicious", "benign"}


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_triage_or_are_rejected(raw: bytes) -> None:
    record, _ = read_message(b"From: a@b.example\r\n" + raw, IngestSettings())
    if record is not None:
        verdict = triage_record(record)
        assert 0 <= verdict.score <= 1


# --- CLI and detector ---------------------------------------------------------------------


def test_triage_email_cli_json_and_errors(tmp_path: Path) -> None:
    demo = ROOT / "data" / "demo" / "mail"
    result = fimiwatch("triage", "email", str(demo / "03-lookalike-domain-verify-account.eml"),
                       "--json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "malicious" and "T1566.002" in verdict["attack"]
    assert {i["id"] for i in verdict["indicators"]} >= {"lookalike-domain", "link-text-mismatch"}
    assert set(verdict) == {"verdict", "score", "indicators", "attack", "disarm"}
    box = fimiwatch("triage", "email", str(demo / "inbox.mbox"), "--json", cwd=tmp_path)
    assert len(box.stdout.splitlines()) == 6
    missing = fimiwatch("triage", "email", "nope.eml", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.eml" in missing.stderr
    hostile = tmp_path / "h.eml"
    hostile.write_bytes(mail(sender='"[bold red]Reuters[/]" <r@gmail.com>'))
    shown = fimiwatch("triage", "email", str(hostile), cwd=tmp_path)
    assert shown.returncode == 0 and "red]Reuters[/]" in shown.stdout  # not read as markup


def test_phishing_detector_reports_demo_mail_with_targets(tmp_path: Path) -> None:
    demo = ROOT / "data" / "demo"
    for args in (("watchlist", "load", str(demo / "watchlist" / "watchlist.csv")),
                 ("ingest", str(demo / "mail")), ("run", "--only", "phishing")):  # fmt: skip
        assert fimiwatch(*args, cwd=tmp_path).returncode == 0
    out = fimiwatch("findings", "--type", "phishing", "--format", "jsonl", cwd=tmp_path).stdout
    findings = [json.loads(line) for line in out.splitlines()]
    malicious = [f for f in findings if f["title"].startswith("Malicious")]
    assert len(malicious) == 8
    lookalike = next(f for f in findings if "lookalike-domain" in
                     {i["id"] for i in f["evidence"]["indicators"]})  # fmt: skip
    assert "Radim Kovanda" in lookalike["targets"] or "Vojtěch Šimánek" in lookalike["targets"]
    assert not any("newsletter" in f["title"].lower() for f in findings)
    exported = fimiwatch("export", "stix", "--out", "bundle.json", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    patterns = {o["pattern"] for o in json.loads((tmp_path / "bundle.json").read_text())["objects"]
                if o["type"] == "indicator"}  # fmt: skip
    assert "[domain-name:value = 'europarl-europa.eu']" in patterns
    assert any(p.startswith("[file:hashes.'SHA-256'") for p in patterns)
    assert not any("gmail.com" in p or "bit.ly" in p or "proton.me" in p for p in patterns)


def test_knowledge_base_indicators_from_stix_are_matched(tmp_path: Path) -> None:
    import stix2

    actor = stix2.IntrusionSet(name="APT31", aliases=["Judgment Panda"])
    domain = stix2.Indicator(name="APT31 tracking domain", pattern_type="stix",
                             pattern="[domain-name:value = 'euaffairs-daily.example']")  # fmt: skip
    odd = stix2.Indicator(name="range", pattern_type="stix",
                          pattern="[network-traffic:dst_port > 1000]")  # fmt: skip
    link = stix2.Relationship(domain, "indicates", actor)
    (tmp_path / "iocs.json").write_text(stix2.Bundle(actor, domain, odd, link).serialize())
    imported = fimiwatch("import", "stix", "iocs.json", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    mail_path = ROOT / "data" / "demo" / "mail" / "02-tracking-pixel-mep-office.eml"
    result = fimiwatch("triage", "email", str(mail_path), "--json", cwd=tmp_path)
    found = {i["id"]: i for i in json.loads(result.stdout)["indicators"]}
    match = found["known-indicator"]["evidence"]
    assert match["matches"][0]["value"] == "euaffairs-daily.example"
    assert match["actors"] and match["matches"][0]["indicator"] == "APT31 tracking domain"
    # without a store, triage still works and creates none
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    alone = fimiwatch("triage", "email", str(mail_path), "--json", cwd=elsewhere)
    assert "known-indicator" not in alone.stdout and not any(elsewhere.iterdir())
