"""Spear-phishing triage of one mail: weighted indicators with evidence, a verdict, ATT&CK ids.

Works on the record the mail reader (``ingest/mail.py``) makes, so a file given to ``fimiwatch
triage email`` and a mail ingested into the store are judged alike. Nothing is fetched (a
fetched tracking pixel tells the sender the mail was read) and no attachment is opened: the
reader has already typed attachments from their first bytes and listed zip members.

Verdict: score = noisy-OR of the indicator weights (``verdict.combined_score``); malicious
from 0.6, suspicious from 0.25, else benign. Weights are set so that one strong sign (a
risky attachment, a lookalike domain, a pixel carrying the recipient's address) is suspicious
alone and malicious with one more; a marketing pixel in a newsletter that passes DMARC and
offers unsubscribing weighs almost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

import duckdb

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import ReadError, read_local
from fimiwatch.ingest.mail import mbox_messages, read_message
from fimiwatch.triage.domains import (
    Reference,
    belongs,
    builtin_references,
    domain_of,
    host_of,
    imitation,
    is_free_mail,
    is_shortener,
)
from fimiwatch.triage.verdict import (
    Indicator,
    Verdict,
    combined_score,
    graded,
    text_indicator,
)

CUTS = ((0.6, "malicious"), (0.25, "suspicious"))
RISKY_EXTENSIONS = frozenset({
    "docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppam", "sldm", "lnk", "iso", "img",
    "vhd", "vhdx", "js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "exe", "scr", "pif", "com",
    "bat", "cmd", "ps1", "msi", "jar", "cpl", "one", "chm", "appx", "msix", "reg",
})  # fmt: skip
EXECUTABLE_TYPES = frozenset({"pe", "elf", "lnk", "iso", "vhd", "vhdx", "onenote"})
ARCHIVE_EXTENSIONS = frozenset({"zip", "rar", "7z", "gz", "cab", "tar", "tgz", "xz", "bz2"})
HEX_TOKEN = re.compile(r"(?<![0-9a-f])[0-9a-f]{12,}(?![0-9a-f])", re.IGNORECASE)
SHOWN_DOMAIN = re.compile(r"(?:https?://)?((?:[\w-]+\.)+[a-z]{2,})", re.IGNORECASE)
CREDENTIALS = re.compile(
    r"password|passwort|mot de passe|\bhesl[oa]|sign[ -]?in|log[ -]?in|přihlas|prihlás|"
    r"verify (?:your|the) account|ověřte (?:svůj|váš) účet|ověření účtu|overte (?:svoj|váš) účet|"
    r"konto bestätigen|vérifier votre compte|confirm your (?:identity|account)|"
    r"mailbox (?:quota|will be)|poštovní schránk",
    re.IGNORECASE,
)
URGENCY = re.compile(
    r"urgent|immediately|within (?:24|48|72) hours|in (?:24|48) hours|today only|naléhav|"
    r"okamžitě|ihned|do (?:24|48) hodin|urgentn|dringend|sofort|immédiatement|sous 24|"
    r"account will be (?:closed|suspended|deactivated)",
    re.IGNORECASE,
)
PRIVATE_CHANNEL = re.compile(r"whatsapp|signal|wechat|telegram|threema|wire app", re.IGNORECASE)
PAID_OFFER = re.compile(
    r"all[- ]expenses|expenses (?:are )?(?:covered|paid)|paid (?:trip|travel)|honorari|"
    r"fee of|consultancy fee|paid report|white paper.{0,40}(?:fee|paid|remunerat)|"
    r"hrazen|cestovné|proplac|reimburs",
    re.IGNORECASE,
)
ENABLE_CONTENT = re.compile(r"enable (?:editing|content|macros)|povolit úpravy", re.IGNORECASE)
MAX_SCANNED_CHARS = 100_000


KnownEntry = tuple[str | None, str | None]
Known = Mapping[tuple[str, str], KnownEntry]
"""Knowledge-base indicators: (kind, value) → (indicator name, actor id); kinds ``domain``,
``url``, ``email``, ``sha256`` (``kb_indicators``, from STIX imports)."""


def triage_file(
    path: Path, settings: IngestSettings | None = None, known: Known | None = None
) -> Verdict:
    """Triage one message file (.eml)."""
    settings = settings or IngestSettings()
    return _triage_raw(read_local(path, settings.max_document_bytes), str(path), settings, known)


def known_indicators(
    con: duckdb.DuckDBPyConnection,
) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    """Knowledge-base indicators by (kind, value); ``con`` is the store's connection or a
    cursor of it (the web app's per-request path)."""
    found = con.execute(
        "SELECT kind, value, any_value(name), any_value(actor_id) FROM kb_indicators GROUP BY ALL"
    ).fetchall()
    return {(kind, value): (name, actor) for kind, value, name, actor in found}


def triage_record(
    record: dict[str, Any],
    references: tuple[Reference, ...] | None = None,
    known: Known | None = None,
) -> Verdict:
    """Triage a mail record (the reader's ``mail`` facts plus title and text)."""
    references = references or builtin_references()
    mail = record.get("mail") or {}
    senders = mail.get("from") or [{}]
    sender = senders[0]
    from_domain = domain_of(sender.get("address"))
    text = f"{record.get('title') or ''}\n{record.get('text') or ''}"[:MAX_SCANNED_CHARS]
    auth = _authentication(mail.get("authentication_results") or [])
    recipients = [a.get("address", "").lower() for a in mail.get("to") or [] if a.get("address")]
    found = [
        *_impersonation(sender.get("name") or "", from_domain, references),
        *_lookalikes(mail, record.get("links") or [], from_domain, references),
        *_mismatches(mail, from_domain),
        *_authentication_failures(auth),
        *_pixels(mail, recipients, auth, bool(mail.get("list_unsubscribe"))),
        *_links(mail, record.get("links") or []),
        *_attachments(mail.get("attachments") or []),
        *_language(text, bool(mail.get("attachments"))),
        *_known(mail, record.get("links") or [], known or {}),
    ]
    score = combined_score(found)
    return Verdict(graded(score, CUTS, "benign"), score, tuple(found), _attack(found))


def triage_mailbox(
    path: Path, settings: IngestSettings | None = None, known: Known | None = None
) -> list[tuple[str, Verdict]]:
    """(label, verdict) per message of an .eml (one) or an mbox file (``path#n``)."""
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    with path.open("rb") as handle:
        return triage_messages(handle, str(path), settings, known)


def triage_messages(
    handle: BinaryIO,
    label: str,
    settings: IngestSettings | None = None,
    known: Known | None = None,
) -> list[tuple[str, Verdict]]:
    """(label, verdict) per message read from ``handle``: one message, or an mbox
    (``label#n``); errors name ``label``. The web app's uploads come through here too."""
    settings = settings or IngestSettings()
    if not handle.read(5).startswith(b"From "):
        handle.seek(0)
        message = handle.read(settings.max_document_bytes + 1)
        if len(message) > settings.max_document_bytes:
            raise ReadError(f"{label}: over the limit of {settings.max_document_bytes} bytes")
        return [(label, _triage_raw(message, label, settings, known))]
    handle.seek(0)
    verdicts = []
    for number, raw in mbox_messages(handle, settings.max_document_bytes, label):
        if raw is None:
            raise ReadError(
                f"{label}: message {number} is over {settings.max_document_bytes} bytes"
            )
        verdicts.append((f"{label}#{number}", _triage_raw(raw, f"{label}: message {number}",
                                                          settings, known)))  # fmt: skip
    return verdicts


def _triage_raw(raw: bytes, where: str, settings: IngestSettings, known: Known | None) -> Verdict:
    record, reason = read_message(raw, settings)
    if record is None:
        raise ReadError(f"{where}: {reason}")
    return triage_record(record, known=known)


def _impersonation(name: str, domain: str, references: tuple[Reference, ...]) -> list[Indicator]:
    claimed = [r for r in references if r.kind != "service" and _names(name, r.name)]
    if not claimed or any(belongs(domain, r.domain) for r in claimed):
        return []
    free = is_free_mail(domain)
    return [Indicator(
        "display-name-impersonation",
        f"the sender's name claims {claimed[0].name}, but the mail comes from "
        f"{'the free-mail domain ' if free else ''}{domain or 'no domain'}",
        0.4 if free else 0.35,
        {"display_name": name, "from": domain,
         "claims": sorted({r.domain for r in claimed})},
    )]  # fmt: skip


def _names(display: str, organisation: str) -> bool:
    return bool(re.search(rf"(?<!\w){re.escape(organisation)}(?!\w)", display, re.IGNORECASE))


def _lookalikes(
    mail: dict[str, Any], links: list[str], from_domain: str, references: tuple[Reference, ...]
) -> list[Indicator]:
    hosts = {
        "sender": [from_domain],
        "reply-to": [domain_of(a.get("address")) for a in mail.get("reply_to") or []],
        "link": [host_of(u) for u in links],
    }
    for where, found in hosts.items():
        for host in found:
            imitated = imitation(host, references)
            if imitated:
                reference, how = imitated
                return [Indicator(
                    "lookalike-domain",
                    f"the {where} domain {host} imitates {reference.domain} ({reference.name}): "
                    f"{how}",
                    0.45,
                    {"lookalike_domain": host, "imitates": reference.domain, "where": where},
                )]  # fmt: skip
    return []


def _mismatches(mail: dict[str, Any], from_domain: str) -> list[Indicator]:
    found = []
    reply = {domain_of(a.get("address")) for a in mail.get("reply_to") or []} - {""}
    strange = sorted(d for d in reply if not _related(d, from_domain))
    if strange:
        found.append(Indicator(
            "reply-to-mismatch",
            f"replies go to {', '.join(strange)}, not to the sender's {from_domain}",
            0.2, {"reply_to": strange[0], "from": from_domain},
        ))  # fmt: skip
    bounce = domain_of(mail.get("return_path"))
    if bounce and from_domain and not _related(bounce, from_domain):
        found.append(Indicator(
            "return-path-mismatch",
            f"the envelope sender (Return-Path) is at {bounce}, the From address at {from_domain}",
            0.1, {"return_path": bounce, "from": from_domain},
        ))  # fmt: skip
    return found


def _related(a: str, b: str) -> bool:
    """Same organisation: one domain within the other, or the same last two labels."""
    return belongs(a, b) or belongs(b, a) or a.split(".")[-2:] == b.split(".")[-2:]


def _authentication(results: list[str]) -> dict[str, str]:
    """The first verdict per method (spf, dkim, dmarc) of the receiving server's header."""
    found: dict[str, str] = {}
    for header in results[:5]:
        for method, outcome in re.findall(r"\b(spf|dkim|dmarc)=([a-z]+)", header.lower()):
            found.setdefault(method, outcome)
    return found


def _authentication_failures(auth: dict[str, str]) -> list[Indicator]:
    weights = {("dmarc", "fail"): 0.35, ("spf", "fail"): 0.2, ("dkim", "fail"): 0.2,
               ("spf", "softfail"): 0.1}  # fmt: skip
    failed = {m: o for m, o in auth.items() if (m, o) in weights}
    if not failed:
        return []
    weight = min(0.45, sum(weights[(m, o)] for m, o in failed.items()))
    return [Indicator(
        "authentication-failure",
        "the receiving server's checks failed: "
        + ", ".join(f"{m.upper()} {o}" for m, o in sorted(failed.items())),
        weight, {"authentication": failed},
    )]  # fmt: skip


def _pixels(
    mail: dict[str, Any], recipients: list[str], auth: dict[str, str], unsubscribe: bool
) -> list[Indicator]:
    pixels = [
        i for i in mail.get("images") or []
        if (i.get("tiny") or i.get("hidden")) and host_of(i.get("src"))
    ]  # fmt: skip
    if not pixels:
        return []
    src = pixels[0]["src"]
    decoded = unquote(src).lower()
    addressed = any(r and (r in decoded or r.split("@")[0] in decoded) for r in recipients)
    token = HEX_TOKEN.search(src)
    if auth.get("dmarc") == "pass" and unsubscribe and not addressed:
        weight, why = 0.03, "a newsletter's open-tracking image (DMARC pass, unsubscribe offered)"
    elif addressed:
        weight, why = 0.65, "its address carries the recipient's mail address"
    elif token:
        weight, why = 0.45, f"its address carries a per-recipient token ({token.group(0)})"
    else:
        weight, why = 0.2, "a tiny or hidden remote image"
    return [Indicator(
        "tracking-pixel",
        f"a tracking image that reports when the mail is opened: {why}",
        weight, {"tracking_pixel": src, "pixels": len(pixels)},
    )]  # fmt: skip


def _links(mail: dict[str, Any], links: list[str]) -> list[Indicator]:
    found = []
    for anchor in mail.get("anchors") or []:
        target = host_of(anchor.get("href"))
        shown = SHOWN_DOMAIN.search(anchor.get("text") or "")
        if target and shown and not _related(shown.group(1).lower(), target):
            found.append(Indicator(
                "link-text-mismatch",
                f"a link shows {shown.group(1)} but goes to {target}",
                0.35, {"shown": shown.group(1), "link": anchor.get("href")},
            ))  # fmt: skip
            break
    shorteners = sorted({host_of(u) for u in links if is_shortener(host_of(u))})
    if shorteners:
        found.append(Indicator(
            "url-shortener",
            f"links hide their destination behind {', '.join(shorteners)}",
            0.15, {"shorteners": shorteners},
        ))  # fmt: skip
    return found


def _attachments(attachments: list[dict[str, Any]]) -> list[Indicator]:
    reasons = []
    for attachment in attachments[:50]:
        name = (attachment.get("filename") or "").lower()
        extensions = name.split(".")[1:]
        last = extensions[-1] if extensions else ""
        detected = attachment.get("detected_type")
        members = attachment.get("zip_members") or []
        if last in RISKY_EXTENSIONS:
            double = len(extensions) > 1 and extensions[-2] in {"pdf", "doc", "docx", "jpg", "txt"}
            reasons.append(f"{name}: .{last} runs code when opened"
                           + (" (a double extension hides it)" if double else ""))  # fmt: skip
        elif detected in EXECUTABLE_TYPES and last != detected:
            reasons.append(f"{name}: named .{last or '(none)'} but its bytes are {detected}")
        risky_members = [m for m in members if m.lower().rsplit(".", 1)[-1] in RISKY_EXTENSIONS]
        nested = [m for m in members if m.lower().rsplit(".", 1)[-1] in ARCHIVE_EXTENSIONS]
        if risky_members:
            reasons.append(f"{name}: the archive holds {', '.join(risky_members[:5])}")
        elif nested:
            reasons.append(f"{name}: an archive inside the archive ({', '.join(nested[:5])}) "
                           "hides what it holds")  # fmt: skip
        elif attachment.get("zip_encrypted"):
            reasons.append(f"{name}: an encrypted archive (scanners cannot look inside)")
    if not reasons:
        return []
    return [Indicator(
        "risky-attachment", "; ".join(reasons), 0.5,
        {"attachments": [{k: a.get(k) for k in ("filename", "content_type", "detected_type",
                                                "sha256", "zip_members")}
                         for a in attachments[:10]]},
    )]  # fmt: skip


def _language(text: str, attached: bool) -> list[Indicator]:
    checks = (
        ("credential-request", CREDENTIALS, 0.25, "asks for a sign-in or password"),
        ("urgency", URGENCY, 0.1, "presses for haste"),
        ("private-channel", PRIVATE_CHANNEL, 0.15, "moves the conversation to a private app"),
        ("paid-offer", PAID_OFFER, 0.15, "offers paid travel, fees or reimbursement"),
        ("enable-content-lure", ENABLE_CONTENT, 0.25 if attached else 0.1,
         "asks to enable editing or macros"),
    )  # fmt: skip
    found = (text_indicator(id, pattern, text, weight, f"the text {description}")
             for id, pattern, weight, description in checks)  # fmt: skip
    return [indicator for indicator in found if indicator]


def _known(mail: dict[str, Any], links: list[str], known: Known) -> list[Indicator]:
    """Observables of the mail that the knowledge base lists as indicators."""
    if not known:
        return []
    senders = [*(mail.get("from") or []), *(mail.get("reply_to") or [])]
    addresses = [a.get("address", "").lower() for a in senders]
    hosts = {domain_of(a) for a in addresses} | {host_of(u) for u in links}
    observed = [("email", a) for a in addresses if a] + [("url", u) for u in links]
    observed += [("domain", ".".join(h.split(".")[i:])) for h in hosts if h
                 for i in range(len(h.split(".")) - 1)]  # fmt: skip
    observed += [("sha256", str(a.get("sha256") or "").lower())
                 for a in mail.get("attachments") or []]  # fmt: skip
    matches = [(kind, value, *known[(kind, value)]) for kind, value in observed
               if (kind, value) in known]  # fmt: skip
    if not matches:
        return []
    actors = sorted({actor for *_, actor in matches if actor})
    return [Indicator(
        "known-indicator",
        f"the knowledge base lists {matches[0][1]} ({matches[0][0]})"
        + (f" as an indicator of {', '.join(actors)}" if actors else " as an indicator"),
        0.6,
        {"matches": [{"kind": k, "value": v, "indicator": n, "actor": a}
                     for k, v, n, a in matches[:20]], "actors": actors},
    )]  # fmt: skip


def _attack(found: list[Indicator]) -> tuple[str, ...]:
    ids = {i.id for i in found}
    attack = set()
    if "risky-attachment" in ids:
        attack |= {"T1566.001", "T1204.002"}
    if ids & {"lookalike-domain", "link-text-mismatch", "url-shortener", "credential-request"}:
        attack.add("T1566.002")
    if "lookalike-domain" in ids:
        attack.add("T1583.001")
    if "tracking-pixel" in ids and any(i.weight >= 0.2 for i in found if i.id == "tracking-pixel"):
        attack |= {"T1598.003", "T1589.002"}
    if "display-name-impersonation" in ids and not attack:
        attack.add("T1598")
    return tuple(sorted(attack))
