# ruff: noqa: E501  (one mail per row reads best unwrapped)
"""Writes the phishing evaluation set: ``mail/*.eml`` and ``labels.csv`` (verdict per file).

Written for this benchmark, apart from the demo corpus the triage weights were set on, so it
tests them on mail they were not tuned to. Malicious: journalist and institution impersonation
with payloads, tracking pixels with per-recipient tokens, lookalike and homoglyph domains,
risky attachments. Hard negatives: newsletters with open pixels that pass DMARC, genuine
journalists writing from their outlets, a real password-reset notice from the service's own
domain, archives of PDFs, shortened links from a known sender. Run: ``python make.py``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
PASS = "mx.example; spf=pass smtp.mailfrom={d}; dkim=pass header.d={d}; dmarc=pass header.from={d}"
NONE = "mx.example; spf=none smtp.mailfrom={d}; dkim=none; dmarc=none header.from={d}"
FAIL = "mx.example; spf=fail smtp.mailfrom={d}; dkim=fail; dmarc=fail header.from={d}"
SOFT = "mx.example; spf=softfail smtp.mailfrom={d}; dkim=none; dmarc=none header.from={d}"


def zip_of(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(
                name,
                b"%PDF-1.4 placeholder"
                if name.endswith(".pdf")
                else b"L\x00\x00\x00\x01\x14\x02\x00",
            )
    return buffer.getvalue()


CASES = [
    # (file, verdict, from, reply_to, auth, subject, text, html, attachments, extra headers)
    (
        "m01-ft-impersonation-docm",
        "malicious",
        "Financial Times Europe Desk <ft.europe.desk@gmail.com>",
        None,
        PASS,
        "Interview request on EU tariffs",
        "Dear Member, please see the attached questions and enable editing to read them.",
        None,
        [
            (
                "Questions_FT.docm",
                "application/vnd.ms-word.document.macroEnabled.12",
                b"PK\x03\x04docm",
            )
        ],
        {},
    ),
    (
        "m02-pixel-recipient",
        "malicious",
        "Baltic Policy Review <news@balticpolicyreview.example>",
        None,
        NONE,
        "Analysis: Vilnius and the Taiwan office",
        "New analysis for policy professionals.",
        '<p>New analysis.</p><img src="https://balticpolicyreview.example/o.gif?u=ausra.vaitkute%40lrs.lt&k=9f8e7d6c5b4a3f2e" width="1" height="1">',
        [],
        {},
    ),
    (
        "m03-lookalike-nato",
        "malicious",
        "NATO PfP Office <office@nato-int.org>",
        None,
        NONE,
        "Registration: security seminar",
        "Please sign in with your password to register before Friday.",
        '<a href="https://nato-int.org/register">https://www.nato.int/register</a>',
        [],
        {},
    ),
    (
        "m04-homoglyph-bundestag",
        "malicious",
        "Bundestag IT <it@xn--bundestg-2nh.de>",
        None,
        SOFT,
        "Passwort läuft ab",
        "Ihr Passwort läuft heute ab. Bitte sofort bestätigen.",
        '<a href="https://xn--bundestg-2nh.de/login">Anmelden</a>',
        [],
        {},
    ),
    (
        "m05-iso-invoice",
        "malicious",
        "Accounts <accounts@travel-desk.example>",
        None,
        SOFT,
        "Your travel reimbursement",
        "Please open the attached form within 48 hours to receive your reimbursement.",
        None,
        [("Reimbursement_form.iso", "application/octet-stream", b"\x00" * 0x8001 + b"CD001")],
        {},
    ),
    (
        "m06-zip-lnk",
        "malicious",
        "Jana Nováková <jana.novakova@psp.cz>",
        None,
        FAIL,
        "Podklady k jednání",
        "Dobrý den, posílám podklady.",
        None,
        [("Podklady.zip", "application/zip", zip_of("Podklady.pdf.lnk"))],
        {"Return-Path": "<bounce@mailer-relay.example>"},
    ),
    (
        "m07-link-mismatch-ec",
        "malicious",
        "EU Login <no-reply@ecas-login.example>",
        None,
        NONE,
        "Your EU Login account will be suspended",
        "Verify your account immediately.",
        '<a href="https://ecas-login.example/verify">https://ecas.ec.europa.eu/cas</a>',
        [],
        {},
    ),
    (
        "m08-pixel-token-think-tank",
        "malicious",
        "Centre for Euro-Asian Studies <info@ceas-institute.example>",
        None,
        NONE,
        "Invitation: closed briefing",
        "We would be honoured by your presence.",
        '<img src="https://ceas-institute.example/p/a1b2c3d4e5f6a7b8c9d0.png" style="display:none">'
        '<a href="https://bit.ly/3ceasReg">Register</a>',
        [],
        {},
    ),
    (
        "m09-politico-freemail-shortener",
        "suspicious",
        "POLITICO Europe <politico.eu.reporter@outlook.com>",
        None,
        PASS,
        "Quick question for a story",
        "Could you answer a few questions via this form?",
        '<a href="https://forms.gle/abc123">form</a>',
        [],
        {},
    ),
    (
        "m10-reuters-reply-to-signal",
        "suspicious",
        "Reuters <reuters.desk.brussels@gmail.com>",
        "Tom Reid <tom.reid.news@proton.me>",
        PASS,
        "Request for background conversation",
        "Could we continue on Signal? It is more secure.",
        None,
        [],
        {},
    ),
    (
        "m11-paid-trip",
        "suspicious",
        "Dialogue Forum <forum@eu-asia-dialogue.example>",
        None,
        PASS,
        "Invitation to Shenzhen",
        "All expenses covered. We can continue on WeChat for logistics.",
        None,
        [],
        {},
    ),
    (
        "m12-vhd-shipment",
        "malicious",
        "DHL Express <notice@dhl-express-track.example>",
        None,
        NONE,
        "Parcel held at customs",
        "Open the attached document urgently.",
        None,
        [("Customs_Declaration.vhd", "application/octet-stream", b"conectix" + b"\x00" * 64)],
        {},
    ),
    (
        "m13-exe-as-pdf",
        "malicious",
        "Secretariat <secretariat@committee-office.example>",
        None,
        NONE,
        "Agenda",
        "Agenda attached.",
        None,
        [("Agenda.pdf", "application/pdf", b"MZ\x90\x00" + b"\x00" * 64)],
        {},
    ),
    # hard negatives
    (
        "n01-newsletter-pixel-dmarc",
        "benign",
        "Euractiv <newsletter@euractiv.com>",
        None,
        PASS.format(d="euractiv.com"),
        "The Brief",
        "Today's brief.",
        '<p>Today.</p><img src="https://t.euractiv.com/open/8f7e6d5c4b3a2f1e0d9c" width="1" height="1">',
        [],
        {"List-Unsubscribe": "<https://euractiv.com/unsubscribe>"},
    ),
    (
        "n02-genuine-reuters",
        "benign",
        "Tom Reid <tom.reid@reuters.com>",
        None,
        PASS.format(d="reuters.com"),
        "Request for comment",
        "Dear Sir, I am writing a story about EU-China trade. Could you comment by Thursday?",
        None,
        [],
        {},
    ),
    (
        "n03-password-reset-real",
        "benign",
        "Microsoft account team <account-security-noreply@microsoft.com>",
        None,
        PASS.format(d="microsoft.com"),
        "Microsoft account password change",
        "The password for your Microsoft account was changed.",
        '<a href="https://account.microsoft.com/security">https://account.microsoft.com/security</a>',
        [],
        {},
    ),
    (
        "n04-zip-of-pdfs",
        "benign",
        "Petra Malá <petra.mala@psp.cz>",
        None,
        PASS.format(d="psp.cz"),
        "Podklady",
        "Posílám podklady v archivu.",
        None,
        [("Podklady.zip", "application/zip", zip_of("a.pdf", "b.pdf"))],
        {},
    ),
    (
        "n05-colleague-shortener",
        "benign",
        "Office of R. Kovanda <radim.kovanda@europarl.europa.eu>",
        None,
        PASS.format(d="europarl.europa.eu"),
        "Slides",
        "Here are the slides: https://bit.ly/ep-slides",
        None,
        [],
        {},
    ),
    (
        "n06-conference-invite",
        "benign",
        "EPC Events <events@epc.eu>",
        None,
        PASS.format(d="epc.eu"),
        "Invitation: Europe and China policy dialogue",
        "We are pleased to invite you to our public debate in Brussels.",
        None,
        [],
        {},
    ),
    (
        "n07-newsletter-mailchimp",
        "benign",
        "Think Tank Weekly <weekly@ttweekly.example>",
        None,
        PASS.format(d="ttweekly.example"),
        "This week",
        "Weekly digest.",
        '<img src="https://list-manage.example/track/open.php?u=5f4e3d2c1b0a9f8e7d6c&id=1" width="1" height="1">',
        [],
        {"List-Unsubscribe": "<mailto:unsubscribe@ttweekly.example>"},
    ),
    (
        "n08-calendar",
        "benign",
        "Lenka Dobešová <lenka.dobesova@psp.cz>",
        None,
        PASS.format(d="psp.cz"),
        "Schůzka výboru",
        "Pozvánka na schůzku výboru ve čtvrtek.",
        None,
        [("invite.ics", "text/calendar", b"BEGIN:VCALENDAR")],
        {},
    ),
    (
        "n09-journalist-seznam",
        "benign",
        "Karel Dvořák <karel.dvorak@seznamzpravy.cz>",
        None,
        PASS.format(d="seznamzpravy.cz"),
        "Dotaz k článku",
        "Dobrý den, mohl bych se zeptat na vaše stanovisko k cestě do Tchaj-wanu?",
        None,
        [],
        {},
    ),
    (
        "n10-press-release-pdf",
        "benign",
        "Press Office <press@mzv.gov.cz>",
        None,
        PASS.format(d="mzv.gov.cz"),
        "Tisková zpráva",
        "V příloze tisková zpráva.",
        None,
        [("TZ.pdf", "application/pdf", b"%PDF-1.7")],
        {},
    ),
    (
        "n11-university-invite",
        "benign",
        "Prof. Anna Weber <a.weber@uni-heidelberg.de>",
        None,
        PASS.format(d="uni-heidelberg.de"),
        "Guest lecture",
        "Would you give a guest lecture on EU foreign policy next semester? We cover travel within Germany.",
        None,
        [],
        {},
    ),
    (
        "n12-it-notice-internal",
        "benign",
        "EP IT Service Desk <it-servicedesk@europarl.europa.eu>",
        None,
        PASS.format(d="europarl.europa.eu"),
        "Planned maintenance",
        "Email will be unavailable on Saturday from 8:00 to 10:00.",
        None,
        [],
        {},
    ),
]


def build(case: tuple) -> bytes:
    name, _verdict, sender, reply_to, auth, subject, text, html, attachments, extra = case
    message = EmailMessage()
    domain = sender.rsplit("@", 1)[1].rstrip(">")
    message["Authentication-Results"] = auth.format(d=domain) if "{d}" in auth else auth
    message["From"] = sender
    message["To"] = "Recipient Office <ausra.vaitkute@lrs.lt>"
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = "Tue, 21 May 2024 09:00:00 +0000"
    message["Message-ID"] = f"<{name}@{domain}>"
    for key, value in extra.items():
        message[key] = value
    message.set_content(text)
    if html:
        message.add_alternative(f"<html><body><p>{text}</p>{html}</body></html>", subtype="html")
    for filename, content_type, data in attachments:
        main, sub = content_type.split("/", 1)
        message.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return message.as_bytes()


def main() -> None:
    folder = HERE / "mail"
    folder.mkdir(exist_ok=True)
    with (HERE / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "verdict"])
        for case in CASES:
            (folder / f"{case[0]}.eml").write_bytes(build(case))
            writer.writerow([f"{case[0]}.eml", case[1]])


if __name__ == "__main__":
    main()
