# ruff: noqa: E501  (one profile per block reads best unwrapped)
"""Writes the recruitment evaluation set: ``profiles/*.json`` and ``labels.csv``.

Written apart from the demo profiles the triage weights were set on. Personas (high): new
accounts of consultancies with followers but no staff, official contacts, paid reports or
consultations, trips to China or a third country, private channels — each in other words than
the demo's. Hard negatives (low): a headhunter of a large firm, an academic invitation to a
Shanghai conference with travel funded by a university, a think-tank researcher whose contacts
are officials, a journalist, a start-up founder with a small team, an embassy's ordinary
cultural invitation. Run: ``python make.py``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
OFFICIALS = [
    {"name": "A", "title": "Adviser to MP", "employer": "Seimas of the Republic of Lithuania"},
    {"name": "B", "title": "Policy Officer", "employer": "Ministry of National Defence"},
    {"name": "C", "title": "Diplomat", "employer": "Ministry of Foreign Affairs"},
    {"name": "D", "title": "Parliamentary Assistant", "employer": "European Parliament"},
    {"name": "E", "title": "Staff Officer", "employer": "NATO Allied Command"},
]
MIXED = [
    {"name": "F", "title": "Software Engineer", "employer": "Avast"},
    {"name": "G", "title": "Teacher", "employer": "Gymnázium Brno"},
    {"name": "H", "title": "Marketing Manager", "employer": "Škoda Auto"},
    {"name": "I", "title": "Analyst", "employer": "Ministry of Finance"},
    {"name": "J", "title": "Editor", "employer": "Deník N"},
]


def job(company, followers, staff, start, end=None, title="Director"):
    return {
        "title": title,
        "company": company,
        "company_followers": followers,
        "company_employees_on_platform": staff,
        "start": start,
        "end": end,
    }


def msg(sent_at, text, direction="in"):
    return {"sent_at": sent_at, "direction": direction, "text": text}


PROFILES = [
    (
        "r01-pacific-bridge",
        "high",
        {
            "id": "r01",
            "name": "Amy Chen",
            "headline": "Partner, Pacific Bridge Consulting",
            "created_at": "2024-03-02",
            "connections": 240,
            "photo": {"present": True, "notes": "reverse image search finds no other copy"},
            "experience": [job("Pacific Bridge Consulting Pte Ltd", 6200, 1, "2023-12")],
            "contacts_sample": OFFICIALS,
            "messages": [
                msg(
                    "2024-05-10T10:00:00+02:00",
                    "Hello, your work on Baltic security is remarkable. Our clients would pay a fee of USD 1,500 for a short analysis of the Seimas debate on Taiwan. We host a fully funded workshop in Singapore in September. Shall we continue on Telegram?",
                )
            ],
        },
    ),
    (
        "r02-atlas-institute",
        "high",
        {
            "id": "r02",
            "name": "Victor Huang",
            "headline": "Research Director, Atlas Geo-Economic Institute",
            "created_at": "2024-01-20",
            "connections": 180,
            "photo": None,
            "experience": [job("Atlas Geo-Economic Institute", 3800, 2, "2023-10")],
            "contacts_sample": OFFICIALS + MIXED[:2],
            "messages": [
                msg(
                    "2024-04-02T09:00:00+02:00",
                    "Dear Sir, I greatly admire your expertise. We commission short papers on EU defence procurement, honorarium EUR 2,000 each, and would invite you to our forum in Beijing, flights and hotel covered. My WeChat is below.",
                )
            ],
        },
    ),
    (
        "r03-nordic-dialogue",
        "high",
        {
            "id": "r03",
            "name": "Erik Sandberg",
            "headline": "Founder, Nordic Energy Dialogue",
            "created_at": "2024-02-14",
            "connections": 300,
            "photo": {"present": True, "notes": "AI-generated face suspected"},
            "experience": [job("Nordic Energy Dialogue AB", 2500, 1, "2024-01")],
            "contacts_sample": OFFICIALS,
            "messages": [
                msg(
                    "2024-05-01T08:00:00+02:00",
                    "Your insightful posts impressed me. We pay well for internal insights on the ministry's gas strategy, compensation EUR 3,000. Let us talk on Signal.",
                )
            ],
        },
    ),
    (
        "r04-silk-road-think",
        "high",
        {
            "id": "r04",
            "name": "Laura Ma",
            "headline": "Senior Associate, Silk Road Strategic Advisory",
            "created_at": "2023-12-28",
            "connections": 410,
            "photo": {"present": True, "notes": "studio portrait, stock photo site match"},
            "experience": [
                job("Silk Road Strategic Advisory Ltd", 5100, 3, "2023-11"),
                job("Unknown Trading", None, None, "2019-01", "2023-10"),
            ],
            "contacts_sample": OFFICIALS[:4] + MIXED[:1],
            "messages": [
                msg(
                    "2024-03-15T11:00:00+01:00",
                    "I was impressed by your career in parliament. We prepare paid reports for Asian clients on the views of MPs on China – EUR 1,000 per report – and invite experts to a conference in Shanghai, all expenses covered. Could we move to WhatsApp?",
                )
            ],
        },
    ),
    (
        "r05-silk-road-second",
        "high",
        {
            "id": "r05",
            "name": "Kevin Zhao",
            "headline": "Consultant, Silk Road Strategic Advisory",
            "created_at": "2024-02-01",
            "connections": 220,
            "photo": None,
            "experience": [job("Silk Road Strategic Advisory", 5100, 3, "2024-01")],
            "contacts_sample": OFFICIALS,
            "messages": [
                msg(
                    "2024-03-20T09:30:00+01:00",
                    "I was impressed by your career in the ministry. We prepare paid reports for Asian clients on the views of officials on China – EUR 1,000 per report – and invite experts to a conference in Shanghai, all expenses covered. Could we move to WhatsApp?",
                )
            ],
        },
    ),
    (
        "r06-expert-network-small",
        "medium",
        {
            "id": "r06",
            "name": "Tomas Berg",
            "headline": "Associate, Insight Calls",
            "created_at": "2022-05-01",
            "connections": 700,
            "photo": {"present": True, "notes": "ordinary photo"},
            "experience": [
                job("Insight Calls Ltd", 1800, 4, "2022-04"),
                job("Gartner", 900000, 20000, "2017-01", "2022-03"),
            ],
            "contacts_sample": MIXED,
            "messages": [
                msg(
                    "2024-05-02T10:00:00+02:00",
                    "Hi, a client would like a paid 45-minute call (EUR 300) about the energy market in Czechia. Interested?",
                )
            ],
        },
    ),
    # hard negatives
    (
        "n01-headhunter",
        "low",
        {
            "id": "n01",
            "name": "Sarah Klein",
            "headline": "Executive Search, Egon Zehnder",
            "created_at": "2011-06-01",
            "connections": 5000,
            "photo": {"present": True, "notes": "corporate photo"},
            "experience": [job("Egon Zehnder", 400000, 3500, "2015-01", title="Principal")],
            "contacts_sample": MIXED,
            "messages": [
                msg(
                    "2024-05-03T09:00:00+02:00",
                    "Dear Ms Novak, we are searching for a Chief of Staff for a European energy company. Would you be open to a confidential conversation?",
                )
            ],
        },
    ),
    (
        "n02-academic-shanghai",
        "low",
        {
            "id": "n02",
            "name": "Prof. Jan de Vries",
            "headline": "Professor of International Relations, Leiden University",
            "created_at": "2012-03-10",
            "connections": 1500,
            "photo": {"present": True, "notes": "faculty photo"},
            "experience": [job("Leiden University", 210000, 9100, "2010-09", title="Professor")],
            "contacts_sample": MIXED,
            "messages": [
                msg(
                    "2024-04-10T12:00:00+02:00",
                    "Dear colleague, our joint research project holds its annual academic conference at Fudan University in Shanghai; the university funds travel for speakers. Programme attached.",
                )
            ],
        },
    ),
    (
        "n03-think-tank",
        "low",
        {
            "id": "n03",
            "name": "Marta Kowalska",
            "headline": "Senior Fellow, Polish Institute of International Affairs",
            "created_at": "2014-02-02",
            "connections": 2600,
            "photo": {"present": True, "notes": "conference photo"},
            "experience": [
                job(
                    "Polish Institute of International Affairs",
                    25000,
                    120,
                    "2016-01",
                    title="Senior Fellow",
                )
            ],
            "contacts_sample": OFFICIALS,
            "messages": [
                msg(
                    "2024-05-20T10:00:00+02:00",
                    "Dear Sir, we publish our report on hybrid threats next week and would be glad to present it to your committee.",
                )
            ],
        },
    ),
    (
        "n04-journalist",
        "low",
        {
            "id": "n04",
            "name": "Petr Svoboda",
            "headline": "Reporter, Seznam Zprávy",
            "created_at": "2015-09-09",
            "connections": 1800,
            "photo": {"present": True, "notes": "newsroom photo"},
            "experience": [job("Seznam Zprávy", 60000, 400, "2019-01", title="Reporter")],
            "contacts_sample": MIXED,
            "messages": [
                msg(
                    "2024-05-22T15:00:00+02:00",
                    "Good afternoon, could I ask for your comment on the Taiwan delegation for an article tomorrow?",
                )
            ],
        },
    ),
    (
        "n05-startup-founder",
        "low",
        {
            "id": "n05",
            "name": "Ondra Malý",
            "headline": "Founder, Tiny Robotics",
            "created_at": "2016-01-01",
            "connections": 900,
            "photo": {"present": True, "notes": "ordinary photo"},
            "experience": [job("Tiny Robotics s.r.o.", 3000, 4, "2021-01", title="Founder")],
            "contacts_sample": MIXED,
            "messages": [
                msg(
                    "2024-05-05T10:00:00+02:00",
                    "Hi, we are hiring a robotics engineer in Brno. Would you share the post with your network?",
                )
            ],
        },
    ),
    (
        "n06-embassy-culture",
        "low",
        {
            "id": "n06",
            "name": "Cultural Section, Embassy of Japan",
            "headline": "Embassy of Japan in the Czech Republic",
            "created_at": "2013-05-05",
            "connections": 3000,
            "photo": {"present": True, "notes": "embassy logo"},
            "experience": [job("Embassy of Japan", 8000, 40, "2013-05", title="Cultural Attaché")],
            "contacts_sample": OFFICIALS[:2] + MIXED[:3],
            "messages": [
                msg(
                    "2024-05-12T10:00:00+02:00",
                    "We are pleased to invite you to the opening of the Japanese film festival in Prague.",
                )
            ],
        },
    ),
]


def main() -> None:
    folder = HERE / "profiles"
    folder.mkdir(exist_ok=True)
    with (HERE / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "verdict"])
        for name, verdict, profile in PROFILES:
            profile = {"platform": "linkedin", **profile}
            (folder / f"{name}.json").write_text(
                json.dumps(profile, ensure_ascii=False, indent=1), encoding="utf-8"
            )
            writer.writerow([f"{name}.json", verdict])


if __name__ == "__main__":
    main()
