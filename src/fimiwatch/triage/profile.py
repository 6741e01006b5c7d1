"""Triage of a professional-network approach: is this profile one of the recruitment personas?

The indicators follow the documented personas (warnings of German, British and US
counter-intelligence; the MSS LinkedIn approaches): a new account behind a consultancy with
thousands of followers but almost no staff on the platform, contacts gathered among government,
parliament and defence staff, a flattering first message, paid "reports" or consultations,
all-expenses trips to China or a third country, and a move to private messaging apps. Each
indicator has a weight and its evidence; the score is their noisy-OR; ``high`` from 0.6,
``medium`` from 0.3, else ``low``. A lone sign (a small firm, an expert network's paid call, a
think tank whose contacts are officials) stays low or medium.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fimiwatch.config import IngestSettings
from fimiwatch.ingest.base import ReadError, read_local
from fimiwatch.ingest.profile import profile_problem, profile_records
from fimiwatch.triage.verdict import (
    Indicator,
    Verdict,
    combined_score,
    graded,
    text_indicator,
)

CUTS = ((0.6, "high"), (0.3, "medium"))
NEW_ACCOUNT_DAYS = 180
HOLLOW_MIN_FOLLOWERS = 1000
HOLLOW_MAX_EMPLOYEES = 5
OFFICIAL_SHARE = 0.5
MIN_CONTACTS = 4
OFFICIAL = re.compile(
    r"parliament|parlament|sněmovn|snemovn|\bMP\b|\bMEP\b|senat|ministry|minister|ministerstv|"
    r"government|vláda|defen[cs]e|obrany|army|armáda|military|NATO|embassy|velvyslanectv|"
    r"diplomat|foreign office|council|bundestag|sejm|seimas|policy officer|adviser to",
    re.IGNORECASE,
)
FLATTERY = re.compile(
    r"impressed|admire|insightful|your (?:impressive|remarkable|valuable|deep) |"
    r"exactly what|renowned|outstanding|your expertise|great respect|highly regarded",
    re.IGNORECASE,
)
PAID_WORK = re.compile(
    r"(?:pa(?:y|id)|fee|honorari|remunerat|compensat|EUR|USD|€|\$|£)[^.]{0,80}"
    r"(?:report|paper|analys|consult|call|insight|brief)|"
    r"(?:report|paper|analys|consult|call|insight|brief)[^.]{0,80}"
    r"(?:pa(?:y|id)|fee|honorari|remunerat|compensat|EUR|USD|€|\$|£)",
    re.IGNORECASE,
)
TRIP = re.compile(
    r"(?:all[- ]expenses|expenses (?:are )?(?:covered|paid)|fully (?:funded|covered)|"
    r"we (?:will )?cover|paid (?:trip|travel)|flights? and (?:hotel|accommodation))"
    r"|(?:seminar|conference|forum|visit|trip|workshop)[^.]{0,80}"
    r"(?:China|Beijing|Shanghai|Shenzhen|Hong Kong|Macau|Singapore|Dubai|Istanbul|Bangkok)",
    re.IGNORECASE,
)
OFF_PLATFORM = re.compile(
    r"whatsapp|wechat|signal|telegram|threema|private (?:e-?mail|address)|gmail|proton",
    re.IGNORECASE,
)
POLITICAL_INSIGHT = re.compile(
    r"views of (?:\w+ )?(?:parliamentarians|officials|MPs)|inside view|internal|non-public|"
    r"not (?:yet )?public|insights? (?:on|into) (?:China|Taiwan|NATO|the (?:committee|ministry))",
    re.IGNORECASE,
)
SUSPECT_PHOTO = re.compile(
    r"no other cop|not found elsewhere|stock|ai[- ]generated|generated|symmetrical|gan\b",
    re.IGNORECASE,
)


def triage_profiles(path: Path, settings: IngestSettings | None = None) -> list[Verdict]:
    """Triage every profile in a profile JSON file (one object, a list, or JSON Lines)."""
    settings = settings or IngestSettings()
    return triage_profile_data(read_local(path, settings.max_document_bytes), str(path), settings)


def triage_profile_data(
    data: bytes, label: str, settings: IngestSettings | None = None
) -> list[Verdict]:
    """Triage every profile in ``data``; errors name ``label`` and the record."""
    settings = settings or IngestSettings()
    verdicts = []
    for line, value, error in profile_records(data, label, settings.max_json_depth):
        problem = error or profile_problem(value)
        if problem:
            raise ReadError(f"{label}: record {line}: {problem}")
        verdicts.append(triage_profile(value))
    return verdicts


def triage_profile(profile: dict[str, Any]) -> Verdict:
    messages = [m for m in profile.get("messages") or [] if isinstance(m, dict)]
    inbound = " \n".join(str(m.get("text") or "") for m in messages
                         if m.get("direction") != "out")[:50_000]  # fmt: skip
    found = [
        *_new_account(profile, messages),
        *_hollow_company(profile),
        *_official_contacts(profile),
        *_message_signs(inbound, messages),
        *_photo(profile),
    ]
    score = combined_score(found)
    attack = ("T1585.001", "T1593.001", "T1598") if score >= CUTS[1][0] else ()
    return Verdict(graded(score, CUTS, "low"), score, tuple(found), attack)


def _new_account(profile: dict[str, Any], messages: list[dict[str, Any]]) -> list[Indicator]:
    created = _day(profile.get("created_at"))
    first = min((d for d in (_day(m.get("sent_at")) for m in messages) if d), default=None)
    if created is None or first is None:
        return []
    age = (first - created).days
    if not 0 <= age <= NEW_ACCOUNT_DAYS:
        return []
    return [Indicator(
        "new-account", f"the account was created {age} days before its first message", 0.25,
        {"created_at": created.isoformat(), "first_message": first.isoformat()},
    )]  # fmt: skip


def _hollow_company(profile: dict[str, Any]) -> list[Indicator]:
    for job in profile.get("experience") or []:
        if not isinstance(job, dict) or job.get("end"):
            continue
        followers = _number(job.get("company_followers"))
        staff = _number(job.get("company_employees_on_platform"))
        if followers is not None and staff is not None and followers >= HOLLOW_MIN_FOLLOWERS \
                and staff <= HOLLOW_MAX_EMPLOYEES:  # fmt: skip
            return [Indicator(
                "hollow-company",
                f"the current employer {job.get('company')} has {followers:,.0f} followers but "
                f"{staff:.0f} employees on the platform",
                0.3, {"company": job.get("company"), "followers": followers, "employees": staff},
            )]  # fmt: skip
    return []


def _official_contacts(profile: dict[str, Any]) -> list[Indicator]:
    contacts = [c for c in profile.get("contacts_sample") or [] if isinstance(c, dict)]
    if len(contacts) < MIN_CONTACTS:
        return []
    official = [
        c for c in contacts if OFFICIAL.search(f"{c.get('title') or ''} {c.get('employer') or ''}")
    ]
    share = len(official) / len(contacts)
    if share < OFFICIAL_SHARE:
        return []
    return [Indicator(
        "official-contacts",
        f"{len(official)} of {len(contacts)} sampled contacts work in government, parliament, "
        "defence or diplomacy",
        0.25, {"share": round(share, 3),
               "examples": [f"{c.get('title')} @ {c.get('employer')}" for c in official[:5]]},
    )]  # fmt: skip


def _message_signs(inbound: str, messages: list[dict[str, Any]]) -> list[Indicator]:
    first = next((str(m.get("text") or "") for m in messages if m.get("direction") != "out"), "")
    checks = (
        ("flattery", FLATTERY, first, 0.1, "the first message flatters"),
        ("paid-work-offer", PAID_WORK, inbound, 0.3,
         "offers payment for reports, analyses or consultations"),
        ("paid-trip", TRIP, inbound, 0.3,
         "offers a paid trip or an event in China or a third country"),
        ("off-platform", OFF_PLATFORM, inbound, 0.2, "moves the talk to a private channel"),
        ("political-insight", POLITICAL_INSIGHT, inbound, 0.15,
         "asks for insiders' political views"),
    )  # fmt: skip
    found = (text_indicator(id, pattern, text, weight, f"a message {description}")
             for id, pattern, text, weight, description in checks)  # fmt: skip
    return [indicator for indicator in found if indicator]


def _photo(profile: dict[str, Any]) -> list[Indicator]:
    photo = profile.get("photo")
    if photo is None or (isinstance(photo, dict) and photo.get("present") is False):
        return [Indicator("profile-photo", "the profile has no photo", 0.1, {})]
    notes = str(photo.get("notes") or "") if isinstance(photo, dict) else ""
    if SUSPECT_PHOTO.search(notes):
        return [Indicator("profile-photo", "the analyst's notes on the photo raise doubt", 0.1,
                          {"notes": notes[:300]})]  # fmt: skip
    return []


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return (
            datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value[:10])
        )
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None
