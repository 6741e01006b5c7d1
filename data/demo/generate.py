#!/usr/bin/env python3
# ruff: noqa: E501  (a data generator: long literal lines are clearer unwrapped)
"""Generate the fimiwatch demo corpus (standard library only, deterministic).

    python data/demo/generate.py            # (re)write every generated file next to this script
    python data/demo/generate.py --out DIR  # write the corpus somewhere else
    python data/demo/generate.py --check    # regenerate into a temp dir, compare byte-for-byte

Every generated file is a pure function of this script, the files under templates/ and SEED:
no network, no wall-clock time, no environment. Hand-written prose lives in templates/;
all people, accounts, local websites and texts are fictional (see README.md).
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import email
import filecmp
import hashlib
import html
import io
import json
import random
import re
import shutil
import sys
import tempfile
import unicodedata
import zipfile
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
SEED = 20240607

UTC = dt.UTC
CEST = dt.timezone(dt.timedelta(hours=2))  # Prague / Brussels summer time, the whole window
CST = dt.timezone(dt.timedelta(hours=8))  # Beijing

WINDOW_START = dt.datetime(2024, 5, 13, 0, 0, tzinfo=CEST)
WINDOW_END = dt.datetime(2024, 6, 3, 0, 0, tzinfo=CEST)

# Paths (relative to the output dir) that this script owns and rewrites from scratch.
GENERATED = ["social", "articles", "mail", "profiles", "registry", "watchlist", "truth.json"]

CANDIDATE = {
    "name": "Klára Menšíková",
    "ascii": "Klara Mensikova",
    "nickname": "Klárka",
    "party": "Jasný směr",
    "party_domain": "jasny-smer.example",
    "twitter_handle": "KMensikova",
    "party_handle": "jasnysmer_cz",
}


# ---------------------------------------------------------------------------- utilities


def rng(name: str) -> random.Random:
    """An independent, seeded stream per component (editing one part never shifts another)."""
    return random.Random(f"{SEED}:{name}")


def ts(value: dt.datetime) -> int:
    return int(value.timestamp())


def parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def iso_local(epoch: int, tz: dt.timezone = CEST) -> str:
    return dt.datetime.fromtimestamp(epoch, tz).isoformat()


def iso_z(epoch: int, millis: bool = False) -> str:
    d = dt.datetime.fromtimestamp(epoch, UTC)
    if millis:
        return d.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


SPIN = re.compile(r"\{([^{}]*)\}")


def spin(text: str, r: random.Random) -> str:
    """Resolve spintax ``{a|b|c}`` (innermost first)."""
    while True:
        new = SPIN.sub(lambda m: r.choice(m.group(1).split("|")), text, count=1)
        if new == text:
            return text
        text = new


def ascii_fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ascii_fold(text).lower()).strip("-")


HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
MENTION = re.compile(r"(?<![\w@])@(\w{1,30})")
URL = re.compile(r"https?://\S+")


def hashtags_of(text: str) -> list[str]:
    return HASHTAG.findall(text)


def mentions_of(text: str) -> list[str]:
    return MENTION.findall(text)


class Ids:
    """Every id handed out anywhere in the corpus goes through here: no clashes, ever."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def claim(self, value: str) -> str:
        if value in self.seen:
            raise ValueError(f"duplicate id {value!r}")
        self.seen.add(value)
        return value

    def free(self, value: str) -> bool:
        return value not in self.seen


class Snowflakes:
    """Twitter-style 64-bit ids derived from a timestamp, unique across the corpus."""

    EPOCH_MS = 1288834974657

    def __init__(self, ids: Ids) -> None:
        self.ids = ids

    def make(self, epoch: int, r: random.Random) -> int:
        while True:
            value = ((epoch * 1000 + r.randrange(1000) - self.EPOCH_MS) << 22) | r.getrandbits(22)
            if self.ids.free(str(value)):
                self.ids.claim(str(value))
                return value


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    write_text(path, "".join(dumps(rec) + "\n" for rec in records))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    write_text(path, buf.getvalue())


# ---------------------------------------------------------------------------- templates


def load_banks() -> dict[str, list[str]]:
    banks: dict[str, list[str]] = {}
    current: list[str] | None = None
    header = re.compile(r"^\[([a-z0-9_.]+)\]$")
    for raw in (TEMPLATES / "social_banks.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(";;"):
            continue
        m = header.match(line)
        if m:
            current = banks.setdefault(m.group(1), [])
            continue
        if current is None:
            raise ValueError(f"bank entry outside a section: {line!r}")
        current.append(line)
    return banks


ARTICLE_KEYS = {
    "source",
    "lang",
    "published_at",
    "title",
    "author",
    "url",
    "role",
    "topic",
    "origin",
    "attributed",
    "mode",
    "related",
    "channel",
    "page_file",
}


def load_articles() -> list[dict[str, Any]]:
    articles: list[dict[str, Any]] = []
    for path in sorted((TEMPLATES / "articles").glob("[0-9][0-9]-*.txt")):
        text = path.read_text(encoding="utf-8")
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(";;"))
        for chunk in re.split(r"^### ", text, flags=re.M)[1:]:
            head, _, body = chunk.partition("\n---\n")
            lines = head.strip().splitlines()
            art: dict[str, Any] = {"id": lines[0].strip(), "file": path.name}
            for ln in lines[1:]:
                key, _, value = ln.partition(":")
                key = key.strip()
                if key not in ARTICLE_KEYS:
                    raise ValueError(f"{path.name}: unknown key {key!r} in {art['id']}")
                art[key] = value.strip()
            art["paragraphs"] = [p.strip() for p in body.strip().split("\n\n") if p.strip()]
            art.setdefault("channel", "jsonl")
            art["related"] = art.get("related", "").split()
            art["attributed"] = art.get("attributed") == "yes"
            art["epoch"] = ts(parse_iso(art["published_at"]))
            articles.append(art)
    return articles


# ---------------------------------------------------------------------------- source registry

REGISTRY_HEADER = [
    "source",
    "name",
    "domain",
    "platform",
    "country",
    "language",
    "affiliation",
    "owner_state",
    "notes",
]

# Real outlet and embassy names are used for state media and diplomatic accounts; every text
# attributed to them in this corpus is synthetic. Local sites and independent outlets are fictional.
SOURCES: list[dict[str, str]] = [
    # state media (web)
    dict(
        source="cgtn",
        name="CGTN",
        domain="cgtn.com",
        platform="web",
        country="CN",
        language="en",
        affiliation="state_media",
        owner_state="CN",
        notes="China Global Television Network (CCTV)",
    ),
    dict(
        source="xinhua",
        name="Xinhua News Agency (English)",
        domain="english.news.cn",
        platform="web",
        country="CN",
        language="en",
        affiliation="state_media",
        owner_state="CN",
        notes="",
    ),
    dict(
        source="xinhua-zh",
        name="新华网 (Xinhua, Chinese)",
        domain="news.cn",
        platform="web",
        country="CN",
        language="zh",
        affiliation="state_media",
        owner_state="CN",
        notes="",
    ),
    dict(
        source="globaltimes",
        name="Global Times",
        domain="globaltimes.cn",
        platform="web",
        country="CN",
        language="en",
        affiliation="state_media",
        owner_state="CN",
        notes="People's Daily tabloid",
    ),
    dict(
        source="chinadaily",
        name="China Daily",
        domain="chinadaily.com.cn",
        platform="web",
        country="CN",
        language="en",
        affiliation="state_media",
        owner_state="CN",
        notes="",
    ),
    dict(
        source="cri-cz",
        name="Čínský rozhlas pro zahraničí (CRI, česká redakce)",
        domain="czech.cri.cn",
        platform="web",
        country="CN",
        language="cs",
        affiliation="state_media",
        owner_state="CN",
        notes="Czech service of China Radio International",
    ),
    # state media and diplomats (social accounts)
    dict(
        source="cgtn-europe",
        name="CGTN Europe",
        domain="",
        platform="twitter",
        country="GB",
        language="en",
        affiliation="state_media",
        owner_state="CN",
        notes="handle @CGTNEurope",
    ),
    dict(
        source="cri-cz-fb",
        name="Čínský rozhlas – česká redakce (Facebook)",
        domain="",
        platform="facebook",
        country="CN",
        language="cs",
        affiliation="state_media",
        owner_state="CN",
        notes="Facebook page of CRI Czech",
    ),
    dict(
        source="china-embassy-cz",
        name="Embassy of the People's Republic of China in the Czech Republic",
        domain="",
        platform="twitter",
        country="CZ",
        language="en",
        affiliation="diplomat",
        owner_state="CN",
        notes="handle @ChineseEmbCZ",
    ),
    dict(
        source="mfa-spokesperson",
        name="Spokesperson of the Ministry of Foreign Affairs of the PRC",
        domain="",
        platform="twitter",
        country="CN",
        language="en",
        affiliation="diplomat",
        owner_state="CN",
        notes="handle @SpokespersonCHN",
    ),
    # fictional local sites that republish state-media content (unknown; the tool should suggest proxy)
    dict(
        source="pravdive-zpravy",
        name="Pravdivé zprávy",
        domain="pravdive-zpravy.example",
        platform="web",
        country="CZ",
        language="cs",
        affiliation="unknown",
        owner_state="",
        notes="fictional alternative news site",
    ),
    dict(
        source="slovo-dnes",
        name="Slovo dnes",
        domain="slovo-dnes.example",
        platform="web",
        country="SK",
        language="sk",
        affiliation="unknown",
        owner_state="",
        notes="fictional alternative news site",
    ),
    dict(
        source="libre-regard",
        name="Libre Regard",
        domain="libre-regard.example",
        platform="web",
        country="FR",
        language="fr",
        affiliation="unknown",
        owner_state="",
        notes="fictional alternative news site",
    ),
    dict(
        source="wahrheit-heute",
        name="Wahrheit Heute",
        domain="wahrheit-heute.example",
        platform="web",
        country="DE",
        language="de",
        affiliation="unknown",
        owner_state="",
        notes="fictional alternative news site",
    ),
    # fictional independent outlets
    dict(
        source="prazsky-denik",
        name="Pražský deník",
        domain="prazsky-denik.example",
        platform="web",
        country="CZ",
        language="cs",
        affiliation="independent",
        owner_state="",
        notes="fictional daily",
    ),
    dict(
        source="brussels-ledger",
        name="The Brussels Ledger",
        domain="brusselsledger.example",
        platform="web",
        country="BE",
        language="en",
        affiliation="independent",
        owner_state="",
        notes="fictional EU-affairs outlet",
    ),
    dict(
        source="cemonitor",
        name="Central Europe Monitor",
        domain="cemonitor.example",
        platform="web",
        country="AT",
        language="en",
        affiliation="independent",
        owner_state="",
        notes="fictional research and news outlet",
    ),
    dict(
        source="rundschau-nord",
        name="Rundschau Nord",
        domain="rundschau-nord.example",
        platform="web",
        country="DE",
        language="de",
        affiliation="independent",
        owner_state="",
        notes="fictional regional daily",
    ),
    dict(
        source="courrier-europeen",
        name="Le Courrier européen",
        domain="courrier-europeen.example",
        platform="web",
        country="FR",
        language="fr",
        affiliation="independent",
        owner_state="",
        notes="fictional EU-affairs outlet",
    ),
    dict(
        source="dennik-vychod",
        name="Denník Východ",
        domain="dennik-vychod.example",
        platform="web",
        country="SK",
        language="sk",
        affiliation="independent",
        owner_state="",
        notes="fictional regional daily",
    ),
    # Telegram channels (posts.jsonl and the Telegram export)
    dict(
        source="tg-pravda-bez-cenzury",
        name="Pravda bez cenzury CZ",
        domain="",
        platform="telegram",
        country="CZ",
        language="cs",
        affiliation="unknown",
        owner_state="",
        notes="fictional channel; t.me/pravda_bez_cenzury_cz",
    ),
    dict(
        source="tg-slovensky-obzor",
        name="Slovenský obzor",
        domain="",
        platform="telegram",
        country="SK",
        language="sk",
        affiliation="unknown",
        owner_state="",
        notes="fictional channel; t.me/slovensky_obzor",
    ),
    dict(
        source="tg-nezavisly-hlas",
        name="Nezávislý hlas CZ",
        domain="",
        platform="telegram",
        country="CZ",
        language="cs",
        affiliation="unknown",
        owner_state="",
        notes="fictional channel; social/telegram/result.json",
    ),
    dict(
        source="tg-zpravy-live",
        name="Zprávy live",
        domain="",
        platform="telegram",
        country="CZ",
        language="cs",
        affiliation="independent",
        owner_state="",
        notes="fictional news channel",
    ),
    dict(
        source="tg-hokej-novinky",
        name="Hokej novinky",
        domain="",
        platform="telegram",
        country="CZ",
        language="cs",
        affiliation="independent",
        owner_state="",
        notes="fictional sports channel",
    ),
    dict(
        source="tg-pocasi-cz",
        name="Počasí CZ",
        domain="",
        platform="telegram",
        country="CZ",
        language="cs",
        affiliation="independent",
        owner_state="",
        notes="fictional weather channel",
    ),
    dict(
        source="tg-sk-spravy24",
        name="SK správy 24",
        domain="",
        platform="telegram",
        country="SK",
        language="sk",
        affiliation="independent",
        owner_state="",
        notes="fictional news channel",
    ),
    dict(
        source="tg-eu-digest",
        name="EU Politics Digest",
        domain="",
        platform="telegram",
        country="BE",
        language="en",
        affiliation="independent",
        owner_state="",
        notes="fictional news channel",
    ),
    dict(
        source="tg-akce-slevy",
        name="Akce a slevy",
        domain="",
        platform="telegram",
        country="CZ",
        language="cs",
        affiliation="unknown",
        owner_state="",
        notes="fictional deals channel",
    ),
]
SOURCE_BY_KEY = {s["source"]: s for s in SOURCES}

WATCHLIST_HEADER = ["kind", "name", "aliases", "country", "role", "domains", "notes"]
WATCHLIST: list[list[str]] = [
    [
        "person",
        "Klára Menšíková",
        "Klara Mensikova;K. Menšíková;Menšíková;Klárka;@KMensikova",
        "CZ",
        "MEP candidate, lead candidate of Jasný směr (EP election 2024)",
        "jasny-smer.example",
        "fictional; target of the 'CIA Trojan horse' smear",
    ],
    [
        "person",
        "Vojtěch Šimánek",
        "Vojtech Simanek;V. Šimánek;Šimánek",
        "CZ",
        "Member of the Chamber of Deputies, Foreign Affairs Committee",
        "psp.cz",
        "fictional; led an April 2024 delegation to Taiwan",
    ],
    [
        "person",
        "Lenka Dobešová",
        "Lenka Dobesova;L. Dobešová;Dobešová",
        "CZ",
        "Member of the Chamber of Deputies, Security Committee",
        "psp.cz",
        "fictional",
    ],
    [
        "person",
        "Radim Kovanda",
        "Radim Kovanda;R. Kovanda;Kovanda",
        "CZ",
        "Member of the European Parliament (AFET)",
        "europarl.europa.eu",
        "fictional; IPAC-style China hawk",
    ],
    [
        "organisation",
        "Jasný směr",
        "Hnutí Jasný směr;Jasny smer;@jasnysmer_cz",
        "CZ",
        "political party",
        "jasny-smer.example",
        "fictional party",
    ],
    [
        "organisation",
        "European Parliament",
        "EP;Evropský parlament;Európsky parlament;Parlement européen;Europäisches Parlament;europarlament",
        "EU",
        "EU institution",
        "europarl.europa.eu",
        "",
    ],
    [
        "organisation",
        "Poslanecká sněmovna Parlamentu České republiky",
        "Chamber of Deputies;Poslanecká sněmovna;PSP ČR;Sněmovna",
        "CZ",
        "national parliament",
        "psp.cz",
        "",
    ],
    [
        "election",
        "European Parliament election 2024",
        "EP2024;Volby do Evropského parlamentu 2024;eurovolby;eurovoľby;Europawahl 2024;Européennes 2024;"
        "EUelections2024;VolbyEP2024",
        "EU",
        "6-9 June 2024; in Czechia 7-8 June 2024",
        "elections.europa.eu",
        "",
    ],
    [
        "domain",
        "europarl.europa.eu",
        "europarl.eu;ep.europa.eu",
        "EU",
        "parliament mail and web",
        "europarl.europa.eu",
        "lookalikes: europarl-europa.eu, punycode homoglyphs",
    ],
    [
        "domain",
        "psp.cz",
        "www.psp.cz",
        "CZ",
        "Czech Chamber of Deputies mail and web",
        "psp.cz",
        "",
    ],
    [
        "domain",
        "jasny-smer.example",
        "www.jasny-smer.example",
        "CZ",
        "candidate's party website",
        "jasny-smer.example",
        "fictional",
    ],
]


# ---------------------------------------------------------------------------- articles, feeds, pages

NO_LANG_ARTICLES = {"a-wh-20240527-ukraine", "a-dv-20240529-ukraine", "a-lr-20240525-marche"}
ARTICLE_EXTRAS: dict[str, dict[str, Any]] = {
    "a-pz-20240516-mensikova": {"crawled_at": "2024-05-16T09:02:11Z", "collected_by": "analyst-02"},
    "a-sd-20240517-mensikova": {"word_count": 214, "collected_by": "analyst-02"},
    "a-gt-20240514-mensikova": {"section": "Opinion"},
}


def article_item(a: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": a["id"],
        "published_at": a["published_at"],
        "title": a["title"],
        "text": "\n\n".join(a["paragraphs"]),
        "platform": "web",
        "source": a["source"],
        "account_name": a["author"],
        "url": a["url"],
    }
    if a["id"] not in NO_LANG_ARTICLES:
        item["lang"] = a["lang"]
    # attributed copies carry the credit line in the text and link the original
    item["links"] = (
        [by_id[a["origin"]]["url"]] if a.get("role") == "copy" and a["attributed"] else []
    )
    item.update(ARTICLE_EXTRAS.get(a["id"], {}))
    return item


def xml_escape(text: str) -> str:
    return html.escape(text, quote=True)


def paragraphs_html(paragraphs: list[str]) -> str:
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def rss_feed(items: list[dict[str, Any]]) -> str:
    last = max(a["epoch"] for a in items)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">',
        "  <channel>",
        "    <title>Čínský rozhlas pro zahraničí – česká redakce</title>",
        "    <link>http://czech.cri.cn/</link>",
        '    <atom:link href="http://czech.cri.cn/rss/zpravy.xml" rel="self" type="application/rss+xml"/>',
        "    <description>Zprávy z Číny a ze světa v češtině</description>",
        "    <language>cs</language>",
        f"    <lastBuildDate>{format_datetime(dt.datetime.fromtimestamp(last, CST))}</lastBuildDate>",
        "    <generator>CRI CMS 3.2</generator>",
    ]
    for a in sorted(items, key=lambda x: -x["epoch"]):
        body = paragraphs_html(a["paragraphs"])
        assert "]]>" not in body
        out += [
            "    <item>",
            f"      <title>{xml_escape(a['title'])}</title>",
            f"      <link>{xml_escape(a['url'])}</link>",
            f'      <guid isPermaLink="true">{xml_escape(a["url"])}</guid>',
            f"      <pubDate>{format_datetime(parse_iso(a['published_at']))}</pubDate>",
            f"      <dc:creator>{xml_escape(a['author'])}</dc:creator>",
            f"      <category>{xml_escape(a.get('topic', ''))}</category>",
            f"      <description>{xml_escape(a['paragraphs'][0])}</description>",
            f"      <content:encoded><![CDATA[{body}]]></content:encoded>",
            "    </item>",
        ]
    out += ["  </channel>", "</rss>", ""]
    return "\n".join(out)


def atom_feed(items: list[dict[str, Any]]) -> str:
    last = max(a["epoch"] for a in items)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">',
        "  <title>Global Times – China</title>",
        "  <subtitle>Discover China, discover the world</subtitle>",
        '  <link rel="alternate" type="text/html" href="https://www.globaltimes.cn/china/"/>',
        '  <link rel="self" type="application/atom+xml" href="https://www.globaltimes.cn/rss/china.atom"/>',
        "  <id>https://www.globaltimes.cn/rss/china.atom</id>",
        f"  <updated>{iso_local(last, CST)}</updated>",
        "  <generator>GT feed</generator>",
    ]
    for a in sorted(items, key=lambda x: -x["epoch"]):
        out += [
            "  <entry>",
            f"    <title>{xml_escape(a['title'])}</title>",
            f'    <link rel="alternate" type="text/html" href="{xml_escape(a["url"])}"/>',
            f"    <id>{xml_escape(a['url'])}</id>",
            f"    <published>{a['published_at']}</published>",
            f"    <updated>{a['published_at']}</updated>",
            f"    <author><name>{xml_escape(a['author'])}</name></author>",
            f'    <category term="{xml_escape(a.get("topic", ""))}"/>',
            f'    <summary type="text">{xml_escape(a["paragraphs"][0])}</summary>',
            f'    <content type="html">{xml_escape(paragraphs_html(a["paragraphs"]))}</content>',
            "  </entry>",
        ]
    out += ["</feed>", ""]
    return "\n".join(out)


SITES: dict[str, dict[str, Any]] = {
    "pravdive-zpravy": {
        "name": "Pravdivé zprávy",
        "lang": "cs",
        "tagline": "Zprávy, o kterých mainstream mlčí",
        "nav": [
            ("Domov", "/domov/"),
            ("Svět", "/svet/"),
            ("Ekonomika", "/ekonomika/"),
            ("Regiony", "/regiony/"),
            ("Názory", "/nazory/"),
            ("Podpořte nás", "/podpora/"),
        ],
        "by": "Autor",
        "related": "Mohlo by vás zajímat",
        "share": "Sdílet",
        "cookie": "Tento web používá soubory cookie. Pokračováním souhlasíte s jejich použitím.",
        "footer": "© 2024 Pravdivé zprávy. Šíření obsahu je povoleno s odkazem na zdroj.",
        "css": "pz",
        "search": "/hledat/",
        "contact": "Kontakt",
    },
    "slovo-dnes": {
        "name": "Slovo dnes",
        "lang": "sk",
        "tagline": "Nezávislý pohľad na Slovensko a svet",
        "nav": [
            ("Domov", "/"),
            ("Slovensko", "/slovensko/"),
            ("Svet", "/svet/"),
            ("Ekonomika", "/ekonomika/"),
            ("Názory", "/nazory/"),
        ],
        "by": "Autor",
        "related": "Súvisiace články",
        "share": "Zdieľať",
        "cookie": "Táto stránka používa cookies na zlepšenie vašej skúsenosti.",
        "footer": "© 2024 Slovo dnes. Všetky práva vyhradené.",
        "css": "sd",
        "search": "/hladat/",
        "contact": "Kontakt",
    },
    "wahrheit-heute": {
        "name": "Wahrheit Heute",
        "lang": "de",
        "tagline": "Was andere Medien verschweigen",
        "nav": [
            ("Start", "/"),
            ("Politik", "/politik/"),
            ("Wirtschaft", "/wirtschaft/"),
            ("Welt", "/welt/"),
            ("Region", "/region/"),
            ("Spenden", "/spenden/"),
        ],
        "by": "Von",
        "related": "Das könnte Sie auch interessieren",
        "share": "Teilen",
        "cookie": "Wir verwenden Cookies, um unsere Website für Sie zu optimieren.",
        "footer": "© 2024 Wahrheit Heute – Impressum – Datenschutz",
        "css": "wh",
        "search": "/suche/",
        "contact": "Kontakt",
    },
    "libre-regard": {
        "name": "Libre Regard",
        "lang": "fr",
        "tagline": "L'information sans filtre",
        "nav": [
            ("Accueil", "/"),
            ("Monde", "/monde/"),
            ("France", "/france/"),
            ("Région", "/region/"),
            ("Tribunes", "/tribunes/"),
        ],
        "by": "Par",
        "related": "À lire aussi",
        "share": "Partager",
        "cookie": "Ce site utilise des cookies pour mesurer l'audience.",
        "footer": "© 2024 Libre Regard – Mentions légales",
        "css": "lr",
        "search": "/recherche/",
        "contact": "Contact",
    },
    "brussels-ledger": {
        "name": "The Brussels Ledger",
        "lang": "en",
        "tagline": "EU affairs, independently reported",
        "nav": [
            ("Home", "/"),
            ("Politics", "/politics/"),
            ("Economy", "/economy/"),
            ("World", "/world/"),
            ("Analysis", "/analysis/"),
            ("Subscribe", "/subscribe/"),
        ],
        "by": "By",
        "related": "Related coverage",
        "share": "Share",
        "cookie": "We use cookies to understand how you use our site.",
        "footer": "© 2024 The Brussels Ledger SRL. All rights reserved. Editorial standards · Corrections",
        "css": "bl",
        "search": "/search/",
        "contact": "Contact",
    },
}

MONTHS: dict[str, list[str]] = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def human_date(iso: str, lang: str) -> str:
    d = parse_iso(iso)
    if lang in ("cs", "sk"):
        return f"{d.day}. {d.month}. {d.year} {d.hour}:{d.minute:02d}"
    if lang == "de":
        return f"{d.day:02d}.{d.month:02d}.{d.year}, {d.hour:02d}:{d.minute:02d} Uhr"
    if lang == "fr":
        return f"{d.day} {MONTHS['fr'][d.month - 1]} {d.year} à {d.hour}h{d.minute:02d}"
    return f"{d.day} {MONTHS['en'][d.month - 1]} {d.year}, {d.hour:02d}:{d.minute:02d} CEST"


def html_page(a: dict[str, Any], related: list[dict[str, Any]]) -> str:
    site = SITES[a["source"]]
    domain = SOURCE_BY_KEY[a["source"]]["domain"]
    e = html.escape
    title = a["title"]
    nav = "\n".join(
        f'          <li><a href="{e(href)}">{e(label)}</a></li>' for label, href in site["nav"]
    )
    body = "\n".join(f"          <p>{e(p, quote=False)}</p>" for p in a["paragraphs"])
    rel = (
        "\n".join(
            f'          <li><a href="{e(r["url"])}">{e(r["title"])}</a></li>' for r in related
        )
        or "          <li></li>"
    )
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": a["published_at"],
            "author": {"@type": "Person", "name": a["author"]},
            "publisher": {"@type": "Organization", "name": site["name"]},
            "mainEntityOfPage": a["url"],
            "inLanguage": site["lang"],
        },
        ensure_ascii=False,
    )
    share = e(a["url"])
    section = a["url"].split("/")[3]
    return f"""<!DOCTYPE html>
<html lang="{site["lang"]}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{e(title)} | {e(site["name"])}</title>
  <meta name="description" content="{e(a["paragraphs"][0][:160])}">
  <meta name="author" content="{e(a["author"])}">
  <meta property="og:type" content="article">
  <meta property="og:site_name" content="{e(site["name"])}">
  <meta property="og:title" content="{e(title)}">
  <meta property="og:url" content="{e(a["url"])}">
  <meta property="og:image" content="https://{domain}/media/og/{slugify(title)[:40]}.jpg">
  <meta property="article:published_time" content="{a["published_at"]}">
  <meta property="article:section" content="{e(section)}">
  <link rel="canonical" href="{e(a["url"])}">
  <link rel="stylesheet" href="/static/css/{site["css"]}-main.css?v=4.2.1">
  <link rel="icon" href="/favicon.ico">
  <script type="application/ld+json">{ld}</script>
  <script async src="https://stats.{domain}/tag.js"></script>
</head>
<body class="article-page">
  <div id="cookie-banner" class="cookie-banner" role="dialog">
    <p>{e(site["cookie"])}</p>
    <button type="button" id="cookie-ok">OK</button>
  </div>
  <header class="site-header">
    <a class="logo" href="/">{e(site["name"])}</a>
    <span class="tagline">{e(site["tagline"])}</span>
    <nav class="main-nav" aria-label="main">
      <ul>
{nav}
      </ul>
    </nav>
    <form class="search" action="{site["search"]}" method="get"><input type="search" name="q"></form>
  </header>
  <main id="content">
    <article class="article">
      <header class="article-header">
        <h1 class="article-title">{e(title)}</h1>
        <p class="byline">{e(site["by"])} <span class="author">{e(a["author"])}</span> ·
          <time datetime="{a["published_at"]}">{e(human_date(a["published_at"], site["lang"]))}</time></p>
      </header>
      <div class="article-body">
{body}
      </div>
      <div class="share-buttons">
        <span>{e(site["share"])}:</span>
        <a href="https://www.facebook.com/sharer/sharer.php?u={share}">Facebook</a>
        <a href="https://x.com/intent/post?url={share}">X</a>
        <a href="https://t.me/share/url?url={share}">Telegram</a>
      </div>
    </article>
    <aside class="related">
      <h2>{e(site["related"])}</h2>
      <ul>
{rel}
      </ul>
    </aside>
  </main>
  <footer class="site-footer">
    <p>{e(site["footer"])}</p>
    <p><a href="/{slugify(site["contact"])}/">{e(site["contact"])}</a> · <a href="/rss/">RSS</a></p>
  </footer>
  <script>
    (function () {{
      var ok = document.getElementById("cookie-ok");
      if (ok) {{ ok.addEventListener("click", function () {{
        document.getElementById("cookie-banner").style.display = "none";
        document.cookie = "consent=1; max-age=31536000; path=/";
      }}); }}
      window.dataLayer = window.dataLayer || [];
      window.dataLayer.push({{"event": "article_view", "section": "{e(section)}"}});
    }})();
  </script>
</body>
</html>
"""


def build_articles(out: Path, ids: Ids, articles: list[dict[str, Any]]) -> dict[str, Any]:
    by_id = {a["id"]: a for a in articles}
    jsonl = sorted(
        (a for a in articles if a["channel"] == "jsonl"), key=lambda a: (a["epoch"], a["id"])
    )
    for a in jsonl:
        ids.claim(a["id"])
    write_jsonl(out / "articles" / "articles.jsonl", [article_item(a, by_id) for a in jsonl])

    rss = [a for a in articles if a["channel"] == "rss"]
    atom = [a for a in articles if a["channel"] == "atom"]
    pages = [a for a in articles if a["channel"] == "page"]
    for a in rss + atom + pages:  # the feed and page readers use the URL as the item id
        ids.claim(a["url"])
    write_text(out / "articles" / "feeds" / "cri-czech.xml", rss_feed(rss))
    write_text(out / "articles" / "feeds" / "global-times.atom", atom_feed(atom))
    for a in pages:
        related = [r for r in jsonl if r["source"] == a["source"]][:3]
        write_text(out / "articles" / "pages" / a["page_file"], html_page(a, related))
    return {"jsonl": jsonl, "rss": rss, "atom": atom, "pages": pages}


def article_location(a: dict[str, Any]) -> dict[str, Any]:
    """Where an article lives and which id the ingest readers give it."""
    if a["channel"] == "jsonl":
        return {"id": a["id"], "file": "articles/articles.jsonl"}
    if a["channel"] == "rss":
        return {"id": a["url"], "file": "articles/feeds/cri-czech.xml"}
    if a["channel"] == "atom":
        return {"id": a["url"], "file": "articles/feeds/global-times.atom"}
    return {"id": a["url"], "file": f"articles/pages/{a['page_file']}"}


# ---------------------------------------------------------------------------- social posts

HOUR_WEIGHT = [
    0.15,
    0.08,
    0.05,
    0.04,
    0.05,
    0.15,
    0.4,
    0.75,
    0.85,
    0.8,
    0.8,
    0.85,
    0.9,
    0.85,
    0.8,
    0.8,
    0.85,
    0.9,
    1.0,
    1.0,
    1.0,
    0.95,
    0.7,
    0.35,
]

ORGANIC_LANGS = [
    ("cs", 42),
    ("sk", 12),
    ("en", 17),
    ("de", 10),
    ("fr", 7),
    ("pl", 6),
    ("it", 3),
    ("hu", 2),
    ("es", 1),
]
TOPICS = [("election", 22), ("weather", 15), ("sport", 18), ("prices", 15), ("daily", 30)]

NEWS_SITES = {
    "cs": ["https://www.prazsky-denik.example"],
    "sk": ["https://dennik-vychod.example"],
    "en": ["https://brusselsledger.example", "https://cemonitor.example"],
    "de": ["https://www.rundschau-nord.example"],
    "fr": ["https://courrier-europeen.example"],
}
SLUG_WORDS = {
    "cs": [
        "volby",
        "pruzkum",
        "debata",
        "ceny",
        "pocasi",
        "bourky",
        "hokej",
        "praha",
        "brno",
        "energie",
        "najmy",
        "vlada",
        "doprava",
        "skoly",
        "nemocnice",
        "rozpocet",
        "evropa",
        "kandidati",
    ],
    "sk": [
        "volby",
        "prieskum",
        "debata",
        "ceny",
        "pocasie",
        "burky",
        "hokej",
        "kosice",
        "bratislava",
        "energie",
        "vlada",
    ],
    "en": [
        "eu",
        "election",
        "poll",
        "debate",
        "parliament",
        "trade",
        "energy",
        "ukraine",
        "china",
        "nato",
        "budget",
        "climate",
    ],
    "de": [
        "europawahl",
        "umfrage",
        "debatte",
        "preise",
        "wetter",
        "unwetter",
        "energie",
        "bahn",
        "mieten",
    ],
    "fr": [
        "europeennes",
        "sondage",
        "debat",
        "prix",
        "meteo",
        "energie",
        "agriculteurs",
        "parlement",
    ],
}
SECTIONS = {
    "election": "politika",
    "weather": "pocasi",
    "sport": "sport",
    "prices": "ekonomika",
    "daily": "zpravy",
}

SMEAR_EMOJI = ["🇨🇿", "‼️", "👇", "🔥", "😡", "🤔", "⚠️"]
PATRIOT_HANDLES = [
    "Vlastenec_CZ",
    "CeskyOrel77",
    "Hlas_naroda_cz",
    "SlovenskyRebel",
    "EuroSkeptik_Tom",
    "TruthSeekerEU",
    "Pravda_vitezi24",
    "StredoEuropan",
]


def yt_link(r: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "https://www.youtube.com/watch?v=" + "".join(r.choice(alphabet) for _ in range(11))


def tco(r: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "https://t.co/" + "".join(r.choice(alphabet) for _ in range(10))


def feminine(last: str) -> str:
    if last.endswith("ý"):
        return last[:-1] + "á"
    if last.endswith("a"):
        return last[:-1] + "ová"
    if last.endswith("ěk"):
        return last[:-2] + "ňková"
    if last.endswith("ek"):
        return last[:-2] + "ková"
    if last.endswith("ec"):
        return last[:-2] + "cová"
    if last.endswith("ó"):
        return last + "ová"
    return last + "ová"


class Social:
    def __init__(
        self,
        ids: Ids,
        snow: Snowflakes,
        banks: dict[str, list[str]],
        articles: dict[str, dict[str, Any]],
    ) -> None:
        self.ids = ids
        self.snow = snow
        self.banks = banks
        self.articles = articles
        self.posts: list[dict[str, Any]] = []
        self.accounts: list[dict[str, Any]] = []
        self.handles: set[str] = set()
        self.r_ids = rng("social-ids")
        self.fb_post_numbers: set[int] = set()
        self.records: list[dict[str, Any]] = []
        self.t0 = ts(WINDOW_START)
        self.t1 = ts(WINDOW_END)

    # -- helpers -----------------------------------------------------------------------
    def bank(self, name: str) -> list[str]:
        return self.banks[name]

    def resolve_links(self, text: str) -> str:
        return re.sub(
            r"\[\[link:([a-z0-9-]+)\]\]", lambda m: self.articles[m.group(1)]["url"], text
        )

    def when(self, r: random.Random, start: int | None = None, end: int | None = None) -> int:
        start = self.t0 if start is None else start
        end = self.t1 if end is None else end
        while True:
            e = r.randint(start, end - 1)
            if r.random() < HOUR_WEIGHT[dt.datetime.fromtimestamp(e, CEST).hour]:
                return e

    def new_handle(self, candidates: list[str]) -> str:
        for c in candidates:
            c = re.sub(r"[^A-Za-z0-9_]", "", c)[:15]
            if c and c.lower() not in self.handles:
                self.handles.add(c.lower())
                return c
        raise RuntimeError("handle space exhausted")

    def account(
        self,
        *,
        platform: str,
        kind: str,
        lang: str,
        handle: str,
        name: str,
        acct_id: str,
        created: str,
        source: str | None = None,
    ) -> dict[str, Any]:
        acct = {
            "id": acct_id,
            "handle": handle,
            "name": name,
            "platform": platform,
            "kind": kind,
            "lang": lang,
            "created": created,
            "source": source,
        }
        self.accounts.append(acct)
        return acct

    def twitter_user_id(self, r: random.Random, created: dt.date) -> str:
        if created.year < 2013:
            return str(r.randint(10_000_000, 1_200_000_000))
        epoch = ts(
            dt.datetime(created.year, created.month, created.day, 12, tzinfo=UTC)
        ) + r.randint(0, 40000)
        return str(self.snow.make(epoch, r))

    def person(self, r: random.Random, lang: str) -> tuple[str, str]:
        first = r.choice(self.bank(f"names.{lang}.first"))
        last = r.choice(self.bank(f"names.{lang}.last"))
        if (
            lang in ("cs", "sk")
            and (first.endswith("a") or first in ("Lucie", "Adéla"))
            and first != "Lukáš"
        ):
            last = feminine(last)
        return first, last

    def organic_handle(self, r: random.Random, first: str, last: str) -> str:
        f, s = ascii_fold(first), ascii_fold(last)
        w = r.choice(self.bank("handle.words"))
        pats = [
            f + s,
            f + "_" + s,
            f.lower() + s.lower() + str(r.randint(1, 99)),
            f[0] + s + str(r.randint(70, 99)),
            s.lower() + "_" + f.lower(),
            f + s[0] + str(r.randint(1, 999)),
            f + w.capitalize(),
            w + "_" + f.lower() + str(r.randint(1, 9)),
        ]
        r.shuffle(pats)
        return self.new_handle(pats + [f + s + str(r.randint(1000, 99999)) for _ in range(20)])

    def add(
        self,
        acct: dict[str, Any],
        epoch: int,
        text: str,
        *,
        links: list[str] | None = None,
        repost_of: str | None = None,
        reply_to: str | None = None,
        lang: str | None = None,
        shorten: bool = False,
    ) -> dict[str, Any]:
        r = self.r_ids
        platform = acct["platform"]
        links = list(links or [])
        if platform == "twitter":
            sf = self.snow.make(epoch, r)
            pid, url = f"tw-{sf}", f"https://x.com/{acct['handle']}/status/{sf}"
        elif platform == "facebook":
            while True:
                num = r.randint(10**15, 10**16 - 1)
                if num not in self.fb_post_numbers:
                    self.fb_post_numbers.add(num)
                    break
            pid = f"fb-{acct['id']}_{num}"
            url = f"https://www.facebook.com/permalink.php?story_fbid={num}&id={acct['id']}"
        else:  # telegram: message ids are assigned in time order in finish()
            pid, url = "", ""
        shown = text
        if platform == "twitter" and shorten:
            for link in links:
                shown = shown.replace(link, tco(r))
        post = {
            "id": pid,
            "published_at": "",
            "text": shown,
            "platform": platform,
            "source": acct["source"],
            "account_id": acct["id"],
            "account_name": acct["handle"],
            "url": url,
            "lang": lang,
            "links": links,
            "hashtags": hashtags_of(text),
            "mentions": mentions_of(text),
            "repost_of": repost_of,
            "reply_to": reply_to,
            "_epoch": epoch,
            "_acct": acct,
        }
        if pid:
            self.ids.claim(pid)
        self.posts.append(post)
        return post

    def repost(self, acct: dict[str, Any], orig: dict[str, Any], epoch: int) -> dict[str, Any]:
        text = (
            f"RT @{orig['account_name']}: {orig['text']}"
            if acct["platform"] == "twitter"
            else orig["text"]
        )
        post = self.add(
            acct, epoch, text, links=orig["links"], repost_of=orig["id"], lang=orig["lang"]
        )
        post["hashtags"] = list(orig["hashtags"])
        return post

    def news_link(self, r: random.Random, lang: str, topic: str) -> str:
        if lang not in NEWS_SITES or r.random() < 0.12:
            return yt_link(r)
        words = r.sample(SLUG_WORDS[lang], 3)
        return f"{r.choice(NEWS_SITES[lang])}/{SECTIONS.get(topic, 'zpravy')}/{'-'.join(words)}-{r.randint(1000, 99999)}"

    def utm(self, url: str, r: random.Random, medium: str, campaign: str) -> str:
        src = {"twitter": "tw", "facebook": "fb", "telegram": "tg"}[medium]
        q = f"utm_source={src}&utm_medium=social&utm_campaign={campaign}&utm_content={r.getrandbits(24):06x}"
        if medium == "facebook" and r.random() < 0.5:
            q += "&fbclid=IwAR" + base64.urlsafe_b64encode(r.randbytes(24)).decode().rstrip("=")
        if r.random() < 0.25:
            q += f"&utm_term={r.choice(['volby', 'ep2024', 'pravda', 'km'])}"
        return f"{url}?{q}"

    # -- actors --------------------------------------------------------------------------
    def build_accounts(self) -> None:
        r = rng("accounts")
        # state media and diplomats
        self.embassy = self.account(
            platform="twitter",
            kind="state",
            lang="en",
            handle="ChineseEmbCZ",
            name="Chinese Embassy in Czech Republic",
            acct_id="1187654321098752001",
            created="2019-10-25",
            source="china-embassy-cz",
        )
        self.spox = self.account(
            platform="twitter",
            kind="state",
            lang="en",
            handle="SpokespersonCHN",
            name="Spokesperson发言人办公室",
            acct_id="1201435186795507712",
            created="2019-12-02",
            source="mfa-spokesperson",
        )
        self.cgtn = self.account(
            platform="twitter",
            kind="state",
            lang="en",
            handle="CGTNEurope",
            name="CGTN Europe",
            acct_id="1052813371",
            created="2012-12-11",
            source="cgtn-europe",
        )
        self.crifb = self.account(
            platform="facebook",
            kind="state",
            lang="cs",
            handle="CRIczech",
            name="Čínský rozhlas – česká redakce",
            acct_id="100064812345678",
            created="2014-03-18",
            source="cri-cz-fb",
        )
        for a in (self.embassy, self.spox, self.cgtn, self.crifb):
            self.handles.add(a["handle"].lower())
        # candidate, party, outlets, fact-checkers
        self.candidate = self.account(
            platform="twitter",
            kind="candidate",
            lang="cs",
            handle=CANDIDATE["twitter_handle"],
            name="Klára Menšíková",
            acct_id="789456123012345678",
            created="2016-11-30",
        )
        self.party = self.account(
            platform="twitter",
            kind="party",
            lang="cs",
            handle=CANDIDATE["party_handle"],
            name="Jasný směr",
            acct_id="1123581321345589144",
            created="2019-04-01",
        )
        self.outlets = {
            "prazsky-denik": self.account(
                platform="twitter",
                kind="outlet",
                lang="cs",
                handle="prazskydenik",
                name="Pražský deník",
                acct_id="88123456",
                created="2009-08-14",
            ),
            "brussels-ledger": self.account(
                platform="twitter",
                kind="outlet",
                lang="en",
                handle="BrusselsLedger",
                name="The Brussels Ledger",
                acct_id="412345678",
                created="2011-11-02",
            ),
            "dennik-vychod": self.account(
                platform="twitter",
                kind="outlet",
                lang="sk",
                handle="dennikvychod",
                name="Denník Východ",
                acct_id="287654321",
                created="2011-03-09",
            ),
            "rundschau-nord": self.account(
                platform="twitter",
                kind="outlet",
                lang="de",
                handle="rundschau_nord",
                name="Rundschau Nord",
                acct_id="156789012",
                created="2010-06-21",
            ),
            "cemonitor": self.account(
                platform="twitter",
                kind="outlet",
                lang="en",
                handle="cem_monitor",
                name="Central Europe Monitor",
                acct_id="987654321012345600",
                created="2018-05-07",
            ),
        }
        self.factcheck = self.account(
            platform="twitter",
            kind="factcheck",
            lang="cs",
            handle="overeno_cz",
            name="Ověřeno.cz",
            acct_id="1098765432109876543",
            created="2019-02-11",
        )
        self.journalist = self.account(
            platform="twitter",
            kind="journalist",
            lang="en",
            handle="lukas_brenner",
            name="Lukas Brenner",
            acct_id="2512345678",
            created="2014-07-19",
        )
        for a in [
            self.candidate,
            self.party,
            self.factcheck,
            self.journalist,
            *self.outlets.values(),
        ]:
            self.handles.add(a["handle"].lower())

        # the troll network: 26 X accounts, 8 Facebook profiles, 2 Telegram channels
        self.trolls_tw: list[dict[str, Any]] = []
        for i in range(26):
            lang = "cs" if i < 14 else ("sk" if i < 20 else "en")
            name_lang = lang if lang != "en" else "cs"
            first, last = self.person(r, name_lang)
            created = dt.date(2024, 1, 5) + dt.timedelta(days=r.randint(0, 105))
            if i % 3 == 2 and PATRIOT_HANDLES:
                handle = self.new_handle([PATRIOT_HANDLES.pop(0)])
            else:
                base = ascii_fold(first + last)[:7]
                handle = self.new_handle(
                    [base + str(r.randint(10**7, 10**8 - 1)) for _ in range(5)]
                )
            self.trolls_tw.append(
                self.account(
                    platform="twitter",
                    kind="troll",
                    lang=lang,
                    handle=handle,
                    name=f"{first} {last}",
                    acct_id=self.twitter_user_id(r, created),
                    created=created.isoformat(),
                )
            )
        self.trolls_fb: list[dict[str, Any]] = []
        for _i in range(8):
            first, last = self.person(r, "cs")
            created = dt.date(2024, 1, 20) + dt.timedelta(days=r.randint(0, 80))
            acct_id = "61556" + str(r.randint(10**8, 10**9 - 1))
            self.trolls_fb.append(
                self.account(
                    platform="facebook",
                    kind="troll",
                    lang="cs",
                    handle=f"{first} {last}",
                    name=f"{first} {last}",
                    acct_id=acct_id,
                    created=created.isoformat(),
                )
            )
        self.trolls_tg = [
            self.account(
                platform="telegram",
                kind="troll",
                lang="cs",
                handle="pravda_bez_cenzury_cz",
                name="Pravda bez cenzury CZ",
                acct_id="channel1774309215",
                created="2023-11-02",
                source="tg-pravda-bez-cenzury",
            ),
            self.account(
                platform="telegram",
                kind="troll",
                lang="sk",
                handle="slovensky_obzor",
                name="Slovenský obzor",
                acct_id="channel1802231764",
                created="2024-01-16",
                source="tg-slovensky-obzor",
            ),
        ]
        self.tg_organic = []
        for key, handle, name, lang, cid in [
            ("zpravy_live", "zpravy_live_cz", "Zprávy live", "cs", "channel1356901122"),
            ("hokej_novinky", "hokej_novinky", "Hokej novinky", "cs", "channel1288004417"),
            ("pocasi_cz", "pocasi_cz", "Počasí CZ", "cs", "channel1409938250"),
            ("sk_spravy24", "sk_spravy24", "SK správy 24", "sk", "channel1511220876"),
            ("eu_digest", "eu_politics_digest", "EU Politics Digest", "en", "channel1623345109"),
            ("akce_slevy", "akce_a_slevy", "Akce a slevy", "cs", "channel1190877334"),
        ]:
            src = "tg-" + key.replace("_", "-")
            acct = self.account(
                platform="telegram",
                kind="tg_organic",
                lang=lang,
                handle=handle,
                name=name,
                acct_id=cid,
                created="2021-06-01",
                source=src,
            )
            acct["bank"] = f"tg.{key}"
            self.tg_organic.append(acct)

        # hyperactive genuine accounts
        self.hyper = {
            "hockeyfan": self.account(
                platform="twitter",
                kind="hyper",
                lang="cs",
                handle="hokej_srdcem",
                name="Hokej srdcem",
                acct_id="3012345678",
                created="2015-02-10",
            ),
            "aggregator": self.account(
                platform="twitter",
                kind="hyper",
                lang="cs",
                handle="zpravy_kazdou_h",
                name="Zprávy každou hodinu",
                acct_id="1234009876543210001",
                created="2020-01-07",
            ),
            "retiree": self.account(
                platform="facebook",
                kind="hyper",
                lang="cs",
                handle="František Doležal",
                name="František Doležal",
                acct_id="100004123987650",
                created="2013-05-22",
            ),
            "weather": self.account(
                platform="twitter",
                kind="hyper",
                lang="sk",
                handle="pocasie_vychod",
                name="Počasie Východ",
                acct_id="945612378901234567",
                created="2018-01-29",
            ),
            "euwatcher": self.account(
                platform="twitter",
                kind="hyper",
                lang="en",
                handle="eu_watcher_brx",
                name="EU Watcher",
                acct_id="2890123456",
                created="2014-11-03",
            ),
        }
        for a in self.hyper.values():
            self.handles.add(a["handle"].lower())

        # ordinary accounts; a few are brand new with default-style handles (confounders)
        self.organic: list[dict[str, Any]] = []
        langs = [lang for lang, w in ORGANIC_LANGS for _ in range(w)]
        for i in range(1620):
            lang = r.choice(langs)
            first, last = self.person(r, lang)
            platform = "twitter" if r.random() < 0.72 else "facebook"
            if i % 97 == 13:
                created = dt.date(2024, 1, 1) + dt.timedelta(days=r.randint(0, 100))
            else:
                created = dt.date(2008, 1, 1) + dt.timedelta(days=r.randint(0, 5800))
            if platform == "twitter":
                if created.year == 2024:
                    handle = self.new_handle(
                        [ascii_fold(first + last)[:7] + str(r.randint(10**7, 10**8 - 1))]
                    )
                else:
                    handle = self.organic_handle(r, first, last)
                acct_id = self.twitter_user_id(r, created)
            else:
                handle = f"{first} {last}"
                acct_id = "1000" + str(r.randint(10**10, 10**11 - 1))
            self.organic.append(
                self.account(
                    platform=platform,
                    kind="organic",
                    lang=lang,
                    handle=handle,
                    name=f"{first} {last}",
                    acct_id=acct_id,
                    created=created.isoformat(),
                )
            )
        self.tw_by_lang: dict[str, list[dict[str, Any]]] = {}
        for a in self.organic:
            if a["platform"] == "twitter":
                self.tw_by_lang.setdefault(a["lang"], []).append(a)

    # -- state media and diplomats, candidate, outlets -----------------------------------
    def link_time(self, r: random.Random, text: str, lo: int, hi: int) -> int:
        """Posts that share an article come lo..hi seconds after it (inside the window)."""
        m = re.search(r"\[\[link:([a-z0-9-]+)\]\]", text)
        if not m:
            return self.when(r)
        art = self.articles[m.group(1)]["epoch"]
        start = max(art + lo, self.t0 + r.randint(3600, 2 * 86400))
        return min(start + r.randint(0, hi - lo), self.t1 - 3600)

    def build_state(self) -> None:
        r = rng("state")
        self.state_posts: list[dict[str, Any]] = []
        plan = [
            (self.embassy, "state.embassy.en", "en"),
            (self.embassy, "state.embassy.cs", "cs"),
            (self.spox, "state.spokesperson.en", "en"),
            (self.cgtn, "state.cgtn.en", "en"),
            (self.crifb, "state.crifb.cs", "cs"),
        ]
        for acct, bank, lang in plan:
            for line in self.bank(bank):
                for _rep in range(2 if acct is self.spox and r.random() < 0.4 else 1):
                    epoch = self.link_time(r, line, 1800, 4 * 3600)
                    text = self.resolve_links(line)
                    links = URL.findall(text)
                    self.state_posts.append(
                        self.add(
                            acct,
                            epoch,
                            text,
                            links=links,
                            lang=lang,
                            shorten=acct["platform"] == "twitter",
                        )
                    )

    def build_candidate(self) -> None:
        r = rng("candidate")
        party_site = f"https://www.{CANDIDATE['party_domain']}"
        self.candidate_posts: list[dict[str, Any]] = []
        for bank, lang in (("candidate.cs", "cs"), ("candidate.en", "en")):
            for line in self.bank(bank):
                link = f"{party_site}/program" if "[[link]]" in line else None
                text = self.resolve_links(line.replace("[[link]]", link or ""))
                epoch = self.link_time(r, line, 3 * 3600, 30 * 3600)
                self.candidate_posts.append(
                    self.add(
                        self.candidate,
                        epoch,
                        text,
                        links=URL.findall(text),
                        lang=lang,
                        shorten=True,
                    )
                )
        for line in self.bank("party.cs"):
            path = r.choice(["/program", "/dobrovolnici", "/videa", "/kandidati"])
            text = line.replace("[[link]]", f"{party_site}{path}")
            self.add(
                self.party, self.when(r), text, links=URL.findall(text), lang="cs", shorten=True
            )
        # organic replies to the candidate (the trolls' replies come in build_trolls)
        for post in self.candidate_posts:
            for _ in range(r.randint(1, 5)):
                lang = "cs" if r.random() < 0.85 else "en"
                acct = r.choice(
                    [a for a in self.organic if a["platform"] == "twitter" and a["lang"] == lang]
                    or self.organic
                )
                text = f"@{self.candidate['handle']} " + spin(
                    r.choice(self.bank(f"org.{lang}.reply_candidate")), r
                )
                epoch = post["_epoch"] + int(r.expovariate(1 / 5400)) + 120
                self.add(acct, min(epoch, self.t1 - 60), text, reply_to=post["id"], lang=lang)

    def build_outlets(self) -> None:
        """Independent outlets, fact-checkers and a journalist post links; organic users share them."""
        r = rng("outlets")
        self.outlet_posts: list[dict[str, Any]] = []
        by_source: dict[str, list[dict[str, Any]]] = {}
        for a in self.articles.values():
            if a["channel"] == "jsonl" and a["source"] in self.outlets:
                by_source.setdefault(a["source"], []).append(a)
        for source, acct in self.outlets.items():
            for a in sorted(by_source.get(source, []), key=lambda x: x["epoch"]):
                if a["epoch"] > self.t1 - 7200:
                    continue
                epoch = max(a["epoch"] + r.randint(300, 3600), self.t0 + r.randint(600, 86400))
                self.outlet_posts.append(
                    self.add(
                        acct,
                        min(epoch, self.t1 - 7200),
                        f"{a['title']} {a['url']}",
                        links=[a["url"]],
                        lang=a["lang"],
                        shorten=True,
                    )
                )
            domain = SOURCE_BY_KEY[source]["domain"]
            for _ in range(r.randint(12, 30)):  # everyday headlines
                topic = r.choice([t for t, _w in TOPICS])
                words = r.sample(SLUG_WORDS.get(acct["lang"], SLUG_WORDS["en"]), 3)
                link = (
                    f"https://{domain}/{SECTIONS[topic]}/{'-'.join(words)}-{r.randint(1000, 99999)}"
                )
                bank = "hyper.aggregator" if acct["lang"] == "cs" else f"headline.{acct['lang']}"
                text = spin(r.choice(self.bank(bank)), r).replace("[[link]]", link)
                self.outlet_posts.append(
                    self.add(
                        acct, self.when(r), text, links=[link], lang=acct["lang"], shorten=True
                    )
                )
        for acct, bank, lang in (
            (self.factcheck, "factcheck.cs", "cs"),
            (self.journalist, "factcheck.en", "en"),
        ):
            for line in self.bank(bank):
                text = self.resolve_links(line)
                epoch = self.link_time(r, line, 1200, 8 * 3600)
                self.outlet_posts.append(
                    self.add(acct, epoch, text, links=URL.findall(text), lang=lang, shorten=True)
                )
        # organic reposts, spread over hours (popular content, different people each time)
        for post in self.outlet_posts:
            pool = self.tw_by_lang.get(post["lang"] or "en") or self.tw_by_lang["en"]
            for _ in range(r.choice([0, 0, 1, 1, 2, 3, 4, 6])):
                acct = r.choice(pool)
                epoch = post["_epoch"] + int(r.lognormvariate(8.3, 1.0)) + 60
                if epoch < self.t1:
                    self.repost(acct, post, epoch)

    def org_bank(self, lang: str, topic: str) -> str:
        name = f"org.{lang}.{topic}"
        if name in self.banks:
            return name
        for fallback in (f"org.{lang}.daily", f"org.{lang}.election", f"org.{lang}.sport"):
            if fallback in self.banks:
                return fallback
        return "org.en.daily"

    # -- the troll network -------------------------------------------------------------
    def smear_variant(
        self, base: str, r: random.Random, link: str, medium: str, campaign: str
    ) -> tuple[str, str]:
        text = spin(base, r)
        tags = re.findall(r"#\w+", text)
        if len(tags) > 1 and r.random() < 0.25:
            text = text.replace(r.choice(tags), "", 1)
        text = re.sub(r" {2,}", " ", text).strip()
        if r.random() < 0.3:
            emoji = r.choice(SMEAR_EMOJI)
            text = f"{emoji} {text}" if r.random() < 0.5 else f"{text} {emoji}"
        if r.random() < 0.15:
            text = text.replace("!", "!!", 1)
        if r.random() < 0.1:
            text = text.replace(". ", ".  ", 1)
        url = self.utm(link, r, medium, campaign)
        return text.replace("[[link]]", url), url

    def build_trolls(self) -> None:
        r = rng("trolls")
        pz = self.articles["a-pz-20240516-mensikova"]
        sd = self.articles["a-sd-20240517-mensikova"]
        debate = self.articles["a-pz-20240530-debata"]
        self.smear_video = yt_link(r)
        self.bursts: list[dict[str, Any]] = []
        starts: list[int] = []
        day, index = dt.date(2024, 5, 16), 0
        while day <= dt.date(2024, 6, 2):
            n = 2 + (index >= 6) + (1 if index >= 12 and r.random() < 0.6 else 0)
            for hour in sorted(r.sample(range(8, 22), n)):
                t = ts(dt.datetime(day.year, day.month, day.day, hour, tzinfo=CEST)) + r.randint(
                    0, 3599
                )
                starts.append(max(t, pz["epoch"] + 1800 + r.randint(0, 3600)))
            day += dt.timedelta(days=1)
            index += 1
        for t0 in starts:
            medium = "facebook" if r.random() < 0.2 else "twitter"
            roll = r.random()
            if medium == "twitter":
                lang = "cs" if roll < 0.55 else ("sk" if roll < 0.75 else "en")
            else:
                lang = "cs" if roll < 0.8 else "sk"
            base = r.choice(self.bank(f"troll.smear.{lang}"))
            if lang == "sk" and t0 > sd["epoch"]:
                link = sd["url"]
            elif t0 > debate["epoch"] and r.random() < 0.35:
                link = debate["url"]
            elif r.random() < 0.1:
                link = self.smear_video
            else:
                link = pz["url"]
            campaign = r.choice(["ep24_km", "km_pravda", "volby24", "mensikova"])
            pool = self.trolls_tw if medium == "twitter" else self.trolls_fb
            members = r.sample(pool, r.randint(10, 20) if medium == "twitter" else r.randint(4, 7))
            text, url = self.smear_variant(base, r, link, medium, campaign)
            seed = self.add(
                members[0],
                t0,
                text,
                links=[url],
                lang=lang,
                shorten=medium == "twitter" and r.random() < 0.5,
            )
            posts = [seed]
            for acct in members[1:]:
                if r.random() < 0.62:
                    delay = min(int(r.expovariate(1 / 50)) + 3, 900)
                    text, url = self.smear_variant(base, r, link, medium, campaign)
                    posts.append(
                        self.add(
                            acct,
                            t0 + delay,
                            text,
                            links=[url],
                            lang=lang,
                            shorten=medium == "twitter" and r.random() < 0.5,
                        )
                    )
                else:
                    posts.append(
                        self.repost(acct, seed, t0 + min(int(r.expovariate(1 / 35)) + 2, 600))
                    )
            channel = self.trolls_tg[1] if lang == "sk" else self.trolls_tg[0]
            if r.random() < (0.8 if lang == "sk" else 0.6):
                text, url = self.smear_variant(base, r, link, "telegram", campaign)
                posts.append(
                    self.add(channel, t0 + r.randint(90, 600), text, links=[url], lang=lang)
                )
            if r.random() < 0.3:  # the same message again an hour or three later
                for acct in r.sample(pool, r.randint(2, 5)):
                    epoch = t0 + r.randint(3600, 3 * 3600)
                    if epoch < self.t1 - 60:
                        text, url = self.smear_variant(base, r, link, medium, campaign)
                        posts.append(self.add(acct, epoch, text, links=[url], lang=lang))
            self.bursts.append(
                {
                    "t0": t0,
                    "platform": medium,
                    "lang": lang,
                    "template": base,
                    "link": link,
                    "campaign": campaign,
                    "posts": posts,
                }
            )

        # amplification of state media and diplomats
        self.amplified: list[dict[str, Any]] = []
        for sp in self.state_posts:
            if r.random() > 0.55:
                continue
            twitter = sp["platform"] == "twitter"
            pool = self.trolls_tw if twitter else self.trolls_fb
            shares = []
            for acct in r.sample(pool, r.randint(5, 12) if twitter else r.randint(3, 6)):
                epoch = sp["_epoch"] + int(r.expovariate(1 / 240)) + 20
                if r.random() < 0.8:
                    shares.append(self.repost(acct, sp, epoch))
                else:
                    lang = "en" if acct["lang"] == "en" or sp["lang"] == "en" else "cs"
                    text = f"{spin(r.choice(self.bank(f'troll.quote.{lang}')), r)} {sp['url']}"
                    shares.append(self.add(acct, epoch, text, links=[sp["url"]], lang=lang))
            if sp["_acct"] is self.crifb:
                shares.append(
                    self.add(
                        self.trolls_tg[0],
                        sp["_epoch"] + r.randint(600, 3600),
                        sp["text"],
                        links=sp["links"],
                        lang=sp["lang"],
                    )
                )
            self.amplified.append({"post": sp, "shares": shares})

        # replies to the candidate
        self.troll_replies: list[dict[str, Any]] = []
        for cp in self.candidate_posts:
            if cp["_epoch"] < pz["epoch"]:
                continue
            for acct in r.sample(self.trolls_tw, r.randint(3, 8)):
                lang = acct["lang"]
                text = f"@{self.candidate['handle']} {spin(r.choice(self.bank(f'troll.reply.{lang}')), r)}"
                epoch = cp["_epoch"] + int(r.expovariate(1 / 300)) + 40
                self.troll_replies.append(
                    self.add(acct, min(epoch, self.t1 - 30), text, reply_to=cp["id"], lang=lang)
                )

        # everyday filler, so that the accounts look lived-in
        start = ts(dt.datetime(2024, 5, 13, 6, tzinfo=CEST))
        for acct in self.trolls_tw + self.trolls_fb:
            for _ in range(r.randint(3, 6)):
                lang = acct["lang"]
                self.add(
                    acct,
                    self.when(r, start),
                    spin(r.choice(self.bank(f"troll.filler.{lang}")), r),
                    lang=lang,
                )

    # -- organic chatter -----------------------------------------------------------------
    def organic_post(
        self, r: random.Random, acct: dict[str, Any], epoch: int, topic: str | None = None
    ) -> dict[str, Any]:
        lang = acct["lang"]
        if topic is None:
            topic = r.choice(self.topic_choices)
            if lang in ("cs", "sk", "en") and r.random() < 0.05:
                topic = "mensikova"
        text = spin(r.choice(self.bank(self.org_bank(lang, topic))), r)
        if lang == "cs" and r.random() < 0.2:
            text += " " + spin(r.choice(self.bank("org.cs.tail")), r)
        tags = self.banks.get(f"hashtags.{lang}.{topic}")
        if tags and r.random() < 0.35:
            text += " " + " ".join(
                "#" + t for t in r.sample(tags, min(len(tags), r.choice([1, 1, 2])))
            )
        links: list[str] = []
        if r.random() < 0.15:
            link = self.news_link(r, lang, topic)
            text += " " + link
            links = [link]
        if acct["platform"] == "twitter" and r.random() < 0.08:
            other = r.choice(self.tw_by_lang.get(lang) or self.tw_by_lang["en"])
            if other is not acct:
                text = f"@{other['handle']} {text}"
        return self.add(acct, epoch, text, links=links, lang=lang, shorten=True)

    def build_organic(self) -> None:
        r = rng("organic")
        self.topic_choices = [t for t, w in TOPICS for _ in range(w)]
        counts = (
            [1] * 40 + [2] * 25 + [3] * 15 + [4] * 5 + [5] * 5 + [6] * 5 + [8] * 2 + [10] * 2 + [14]
        )
        organic_posts: list[dict[str, Any]] = []
        for acct in self.organic:
            for _ in range(r.choice(counts)):
                organic_posts.append(self.organic_post(r, acct, self.when(r)))
        # conversations: replies between ordinary accounts
        tw_posts = [p for p in organic_posts if p["platform"] == "twitter"]
        for post in r.sample(tw_posts, 220):
            lang = post["_acct"]["lang"]
            pool = self.tw_by_lang.get(lang) or self.tw_by_lang["en"]
            acct = r.choice(pool)
            if acct is post["_acct"]:
                continue
            bank = f"org.{lang}.reply" if f"org.{lang}.reply" in self.banks else "org.en.reply"
            text = f"@{post['account_name']} {spin(r.choice(self.bank(bank)), r)}"
            epoch = post["_epoch"] + int(r.lognormvariate(6.5, 1.2)) + 30
            if epoch < self.t1:
                self.add(
                    acct,
                    epoch,
                    text,
                    reply_to=post["id"],
                    lang=lang if bank.startswith(f"org.{lang}") else "en",
                )

    def viral(
        self,
        r: random.Random,
        name: str,
        start: int,
        minutes: int,
        langs: dict[str, int],
        links: list[tuple[str, float]],
        tags: dict[str, list[str]],
        seed: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        participants: list[dict[str, Any]] = []
        for lang, count in langs.items():
            pool = [a for a in self.organic if a["lang"] == lang]
            participants += r.sample(pool, min(count, len(pool)))
        posts = []
        for acct in participants:
            epoch = start + min(int(r.expovariate(4 / (minutes * 60))), minutes * 60 - 1)
            if seed is not None and acct["platform"] == "twitter" and r.random() < 0.15:
                posts.append(self.repost(acct, seed, max(epoch, seed["_epoch"] + 20)))
                continue
            lang = acct["lang"]
            bank = (
                f"burst.{name}.{lang}"
                if f"burst.{name}.{lang}" in self.banks
                else f"burst.{name}.en"
            )
            if bank not in self.banks:
                bank = f"burst.{name}.cs"
            text = spin(r.choice(self.bank(bank)), r)
            if lang in tags and r.random() < 0.6:
                text += " " + " ".join(
                    "#" + t for t in r.sample(tags[lang], r.randint(1, len(tags[lang])))
                )
            post_links: list[str] = []
            if r.random() < 0.55:
                url = r.choices([u for u, _w in links], weights=[w for _u, w in links])[0]
                text += " " + url
                post_links = [url]
            posts.append(
                self.add(
                    acct, epoch, text, links=post_links, lang=bank.split(".")[-1], shorten=True
                )
            )
        return {
            "name": name,
            "start": start,
            "end": start + minutes * 60,
            "links": [u for u, _w in links],
            "posts": posts,
            "seed": seed,
        }

    def build_viral(self) -> None:
        r = rng("viral")
        self.viral_bursts = []
        pd = self.outlets["prazsky-denik"]
        bear_url = "https://www.prazsky-denik.example/regiony/medved-v-beskydech-video"
        bear_seed = self.add(
            pd,
            ts(dt.datetime(2024, 5, 21, 7, 35, tzinfo=CEST)),
            f"VIDEO: Medvěd se v klidu procházel kousek od chat u Rožnova pod Radhoštěm {bear_url}",
            links=[bear_url],
            lang="cs",
            shorten=True,
        )
        self.viral_bursts.append(
            self.viral(
                r,
                "bear",
                ts(dt.datetime(2024, 5, 21, 7, 40, tzinfo=CEST)),
                75,
                {"cs": 130, "sk": 20},
                [(bear_url, 0.85), (yt_link(r), 0.15)],
                {"cs": ["medvěd", "Beskydy"]},
                seed=bear_seed,
            )
        )
        gold_url = "https://www.prazsky-denik.example/sport/hokej-ms-2024-finale-cesko-zlato"
        gold_seed = self.add(
            pd,
            ts(dt.datetime(2024, 5, 26, 22, 40, tzinfo=CEST)),
            f"ZLATO! Čeští hokejisté porazili ve finále Švýcarsko 2:0 a jsou mistři světa. {gold_url}",
            links=[gold_url],
            lang="cs",
            shorten=True,
        )
        self.viral_bursts.append(
            self.viral(
                r,
                "hockey",
                ts(dt.datetime(2024, 5, 26, 22, 38, tzinfo=CEST)),
                60,
                {"cs": 175, "sk": 35, "en": 30, "de": 14},
                [
                    (gold_url, 0.7),
                    (
                        "https://www.iihf.com/en/events/2024/wm/news/czechia-wins-gold-on-home-ice",
                        0.3,
                    ),
                ],
                {
                    "cs": ["MS2024", "hokej", "zlato"],
                    "sk": ["hokej"],
                    "en": ["MensWorlds"],
                    "de": ["EishockeyWM"],
                },
                seed=gold_seed,
            )
        )
        self.viral_bursts.append(
            self.viral(
                r,
                "ucl",
                ts(dt.datetime(2024, 6, 1, 22, 58, tzinfo=CEST)),
                55,
                {"en": 40, "de": 30, "es": 14, "fr": 15, "cs": 20, "pl": 10},
                [
                    (
                        "https://www.uefa.com/uefachampionsleague/news/real-madrid-beat-dortmund-wembley-final/",
                        1.0,
                    )
                ],
                {
                    "en": ["UCLfinal"],
                    "de": ["CLFinale", "BVB"],
                    "es": ["HalaMadrid"],
                    "fr": ["UCLfinal"],
                },
            )
        )

    def build_hyper(self) -> None:
        r = rng("hyper")
        fan, agg = self.hyper["hockeyfan"], self.hyper["aggregator"]
        for mday in range(13, 27):
            if mday == 26 or r.random() < 0.65:
                start = ts(
                    dt.datetime(
                        2024, 5, mday, r.choice([16, 20]) if mday != 26 else 20, 20, tzinfo=CEST
                    )
                )
                for _ in range(35 if mday == 26 else r.randint(10, 18)):
                    text = spin(r.choice(self.bank("hyper.hockeyfan")), r)
                    if r.random() < 0.3:
                        text += " #MS2024"
                    self.add(fan, start + r.randint(0, 9000), text, lang="cs")
        day = dt.date(2024, 5, 13)
        while day < WINDOW_END.date():
            for hour in range(7, 23):
                if r.random() < 0.45:
                    epoch = ts(
                        dt.datetime(day.year, day.month, day.day, hour, tzinfo=CEST)
                    ) + r.randint(0, 3599)
                    link = self.news_link(r, "cs", r.choice([t for t, _w in TOPICS]))
                    text = spin(r.choice(self.bank("hyper.aggregator")), r).replace(
                        "[[link]]", link
                    )
                    self.add(agg, epoch, text, links=[link], lang="cs", shorten=True)
            for _ in range(r.randint(2, 5)):
                epoch = ts(
                    dt.datetime(day.year, day.month, day.day, r.randint(6, 21), tzinfo=CEST)
                ) + r.randint(0, 3599)
                self.add(
                    self.hyper["weather"],
                    epoch,
                    spin(r.choice(self.bank("hyper.weather")), r),
                    lang="sk",
                )
            day += dt.timedelta(days=1)
        for _ in range(80):
            self.add(
                self.hyper["retiree"],
                self.when(r),
                spin(r.choice(self.bank("hyper.retiree")), r),
                lang="cs",
            )
        for _ in range(90):
            text = spin(r.choice(self.bank("hyper.euwatcher")), r)
            links = []
            if "[[link]]" in text:
                link = self.news_link(r, "en", "election")
                text, links = text.replace("[[link]]", link), [link]
            self.add(
                self.hyper["euwatcher"], self.when(r), text, links=links, lang="en", shorten=True
            )

    def build_telegram_organic(self) -> None:
        r = rng("tg-organic")
        for acct in self.tg_organic:
            for _ in range(r.randint(28, 42)):
                text = spin(r.choice(self.bank(acct["bank"])), r)
                links = []
                if "[[link]]" in text:
                    link = self.news_link(r, acct["lang"], "daily")
                    text, links = text.replace("[[link]]", link), [link]
                self.add(acct, self.when(r), text.strip(), links=links, lang=acct["lang"])

    # -- assemble ------------------------------------------------------------------------
    def finish(self) -> list[dict[str, Any]]:
        r = rng("social-finish")
        # Telegram message ids follow time order within each channel
        for acct in self.trolls_tg + self.tg_organic:
            seq = r.randint(800, 4000)
            for post in sorted(
                (p for p in self.posts if p["_acct"] is acct), key=lambda p: p["_epoch"]
            ):
                seq += r.randint(1, 3)
                post["id"] = self.ids.claim(f"tg-{acct['handle']}-{seq}")
                post["url"] = f"https://t.me/{acct['handle']}/{seq}"
        self.posts.sort(key=lambda p: (p["_epoch"], p["id"]))
        order = [
            "id",
            "published_at",
            "text",
            "platform",
            "source",
            "account_id",
            "account_name",
            "url",
            "lang",
            "links",
            "hashtags",
            "mentions",
            "repost_of",
            "reply_to",
        ]
        records = []
        for post in self.posts:
            roll = r.random()
            if post["_acct"]["kind"] == "state" and post["_acct"] is not self.crifb and roll < 0.5:
                post["published_at"] = iso_local(post["_epoch"], CST)
            elif roll < 0.65:
                post["published_at"] = iso_local(post["_epoch"])
            elif roll < 0.95:
                post["published_at"] = iso_z(post["_epoch"])
            else:
                post["published_at"] = iso_z(post["_epoch"], millis=True)
            rec = {k: post[k] for k in order}
            if rec["lang"] is None or r.random() < 0.08:
                del rec["lang"]
            records.append(rec)
        # a few records carry keys the items format does not define (kept by the tool as extras)
        for rec in r.sample(records, 45):
            rec["likes"] = int(r.paretovariate(1.2) * 3)
        for rec in r.sample(records, 25):
            rec["collected_by"] = r.choice(
                ["analyst-01", "analyst-02", "analyst-03", "crawler-x-7"]
            )
        for rec in r.sample(records, 8):
            rec["geo"] = {"country": "CZ", "city": r.choice(["Praha", "Brno", "Ostrava", "Plzeň"])}
        return records


def build_social(
    out: Path,
    ids: Ids,
    snow: Snowflakes,
    banks: dict[str, list[str]],
    articles: dict[str, dict[str, Any]],
) -> Social:
    s = Social(ids, snow, banks, articles)
    s.build_accounts()
    s.build_state()
    s.build_candidate()
    s.build_outlets()
    s.build_trolls()
    s.build_organic()
    s.build_viral()
    s.build_hyper()
    s.build_telegram_organic()
    records = s.finish()
    write_jsonl(out / "social" / "posts.jsonl", records)
    s.records = records
    return s


# ---------------------------------------------------------------------------- Telegram Desktop export

ENTITY = re.compile(r"(https?://\S+|(?<![\w#])#\w+|(?<![\w@])@\w+)")


def telegram_parts(
    text: str, extra: list[dict[str, str]] | None = None
) -> tuple[Any, list[dict[str, str]]]:
    """Telegram Desktop layout: ``text`` is a plain string, or a list mixing strings and entity dicts."""
    parts: list[Any] = []
    entities: list[dict[str, str]] = []
    pos = 0
    for m in ENTITY.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
            entities.append({"type": "plain", "text": text[pos : m.start()]})
        token = m.group(0)
        kind = (
            "link"
            if token.startswith("http")
            else ("hashtag" if token.startswith("#") else "mention")
        )
        parts.append({"type": kind, "text": token})
        entities.append({"type": kind, "text": token})
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
        entities.append({"type": "plain", "text": text[pos:]})
    for ent in extra or []:
        parts.append(ent)
        entities.append(dict(ent))
    if not any(isinstance(p, dict) for p in parts):
        return text, ([{"type": "plain", "text": text}] if text else [])
    return parts, entities


def build_telegram_export(
    out: Path, social: Social, articles: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    r = rng("telegram-export")
    chat_id = 1912488730
    name = "Nezávislý hlas CZ"
    from_id = f"channel{chat_id}"
    pravda = social.trolls_tg[0]
    messages: list[dict[str, Any]] = []
    plan: list[dict[str, Any]] = []

    # forwards of the sister channel's smear posts (the same texts as in posts.jsonl)
    pravda_posts = sorted(
        (p for p in social.posts if p["_acct"] is pravda), key=lambda p: p["_epoch"]
    )
    for post in pravda_posts:
        if r.random() < 0.3:
            continue
        plan.append(
            {
                "epoch": post["_epoch"] + r.randint(60, 1800),
                "text": post["text"],
                "forwarded_from": pravda["name"],
                "source_post": post["id"],
            }
        )
    # own smear posts (same templates as the X/Facebook network)
    pz = articles["a-pz-20240516-mensikova"]
    for _ in range(24):
        base = r.choice(social.bank("troll.smear.cs"))
        epoch = social.when(r, pz["epoch"] + 600)
        text, _url = social.smear_variant(base, r, pz["url"], "telegram", "nh_tg")
        plan.append({"epoch": epoch, "text": text})
    # CRI Czech articles as text links
    for art_id in [
        "a-cricz-20240515-mensikova",
        "a-cricz-20240516-ev",
        "a-cricz-20240520-czcn",
        "a-cricz-20240528-debata",
        "a-cricz-20240601-peace",
    ]:
        a = articles[art_id]
        plan.append(
            {
                "epoch": max(a["epoch"], ts(WINDOW_START)) + r.randint(1800, 7200),
                "text": f"{a['title']} — ",
                "extra": [{"type": "text_link", "text": "celý článek", "href": a["url"]}],
            }
        )
    plan.sort(key=lambda m: m["epoch"])

    def stamp(epoch: int) -> dict[str, str]:
        local = dt.datetime.fromtimestamp(epoch, CEST).replace(tzinfo=None)
        return {"date": local.isoformat(), "date_unixtime": str(epoch)}

    created = ts(dt.datetime(2023, 12, 4, 19, 2, 41, tzinfo=CEST))
    messages.append(
        {
            "id": 1,
            "type": "service",
            **stamp(created),
            "actor": name,
            "actor_id": from_id,
            "action": "create_channel",
            "title": name,
            "text": "",
            "text_entities": [],
        }
    )
    next_id = 2
    smear_ids: list[int] = []
    pin_target = None
    for item in plan:
        msg: dict[str, Any] = {"id": next_id, "type": "message", **stamp(item["epoch"])}
        if r.random() < 0.1:
            edited = item["epoch"] + r.randint(60, 900)
            msg.update({"edited": stamp(edited)["date"], "edited_unixtime": str(edited)})
        msg.update({"from": name, "from_id": from_id})
        if "forwarded_from" in item:
            msg["forwarded_from"] = item["forwarded_from"]
        text = item["text"]
        if smear_ids and r.random() < 0.12 and "forwarded_from" not in item:
            msg["reply_to_message_id"] = r.choice(smear_ids)
        if r.random() < 0.2:
            local = dt.datetime.fromtimestamp(item["epoch"], CEST)
            msg.update(
                {
                    "photo": f"photos/photo_{next_id}@{local.strftime('%d-%m-%Y_%H-%M-%S')}.jpg",
                    "width": 1280,
                    "height": 720,
                }
            )
        extra = list(item.get("extra", []))
        if r.random() < 0.15 and "extra" not in item:
            extra = [{"type": "bold", "text": " SDÍLEJTE!"}]
        msg["text"], msg["text_entities"] = telegram_parts(text, extra)
        if r.random() < 0.6:
            msg["reactions"] = [
                {"type": "emoji", "count": r.randint(3, 240), "emoji": e}
                for e in r.sample(["👍", "🔥", "😡", "💯", "🤮", "👏"], r.randint(1, 3))
            ]
        if "Menšík" in text or "Mensik" in text:
            smear_ids.append(next_id)
            if pin_target is None and "forwarded_from" not in item:
                pin_target = next_id
        messages.append(msg)
        next_id += 1
        item["message_id"] = msg["id"]
    # plain-text notices without entities, and a pin service message
    for text, when in [
        (
            "Děkujeme všem, kteří nás podporují. Bez vás bychom nemohli informovat.",
            ts(dt.datetime(2024, 5, 20, 20, 5, tzinfo=CEST)),
        ),
        (
            "Zítra ráno velký přehled toho, co mainstream zamlčel. Zůstaňte s námi.",
            ts(dt.datetime(2024, 5, 29, 21, 40, tzinfo=CEST)),
        ),
    ]:
        messages.append(
            {
                "id": 0,
                "type": "message",
                **stamp(when),
                "from": name,
                "from_id": from_id,
                "text": text,
                "text_entities": [{"type": "plain", "text": text}],
                "_sort": when,
            }
        )
    pin_when = ts(dt.datetime(2024, 5, 17, 8, 0, 12, tzinfo=CEST))
    messages.append(
        {
            "id": 0,
            "type": "service",
            **stamp(pin_when),
            "actor": name,
            "actor_id": from_id,
            "action": "pin_message",
            "message_id": pin_target,
            "text": "",
            "text_entities": [],
            "_sort": pin_when,
        }
    )
    # renumber in time order (export ids are increasing), keeping references consistent
    messages.sort(key=lambda m: (int(m["date_unixtime"]), m["id"] if m["id"] else 10**6))
    remap = {}
    for new_id, msg in enumerate(messages, start=1):
        if msg["id"]:
            remap[msg["id"]] = new_id
        msg["id"] = new_id
        msg.pop("_sort", None)
    for msg in messages:
        for key in ("reply_to_message_id", "message_id"):
            if key in msg and msg[key] in remap:
                msg[key] = remap[msg[key]]
        if "reply_to_message_id" in msg and msg["reply_to_message_id"] >= msg["id"]:
            del msg["reply_to_message_id"]
    export = {"name": name, "type": "public_channel", "id": chat_id, "messages": messages}
    write_text(
        out / "social" / "telegram" / "result.json",
        json.dumps(export, ensure_ascii=False, indent=1) + "\n",
    )
    return {
        "file": "social/telegram/result.json",
        "chat_id": str(chat_id),
        "name": name,
        "source": "tg-nezavisly-hlas",
        "item_id_pattern": f"{chat_id}:<message id>",
        "messages": len(messages),
        "service_message_ids": [m["id"] for m in messages if m["type"] == "service"],
        "forwarded_from_posts_jsonl": [
            {"message_id": remap[i["message_id"]], "posts_jsonl_id": i["source_post"]}
            for i in plan
            if "source_post" in i
        ],
        "smear_message_ids": sorted(remap[i] for i in smear_ids),
    }


# ---------------------------------------------------------------------------- QUT and Twitter-IO samples

QUT_HEADER = [
    "message_id",
    "user_id",
    "username",
    "repost_id",
    "reply_id",
    "message",
    "timestamp",
    "urls",
]


def build_qut(
    out: Path, social: Social, snow: Snowflakes, articles: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    r = rng("qut")
    start = ts(dt.datetime(2024, 5, 30, 6, 0, tzinfo=CEST))
    end = ts(dt.datetime(2024, 5, 31, 23, 0, tzinfo=CEST))
    reused = r.sample(social.trolls_tw, 6)
    coordinated = [{"id": a["id"], "handle": a["handle"]} for a in reused]
    for _ in range(4):
        created = dt.datetime(2024, 2, 1, tzinfo=UTC) + dt.timedelta(days=r.randint(0, 80))
        first, last = social.person(r, "cs")
        handle = social.new_handle(
            [ascii_fold(first + last)[:7] + str(r.randint(10**7, 10**8 - 1))]
        )
        coordinated.append({"id": str(snow.make(ts(created), r)), "handle": handle})
    organic = [
        {"id": a["id"], "handle": a["handle"], "lang": a["lang"]}
        for a in r.sample(
            [a for a in social.organic if a["platform"] == "twitter" and a["lang"] in ("cs", "en")],
            40,
        )
    ]
    for _ in range(60):
        lang = "cs" if r.random() < 0.5 else "en"
        first, last = social.person(r, lang)
        created = dt.datetime(2010, 1, 1, tzinfo=UTC) + dt.timedelta(days=r.randint(0, 4900))
        organic.append(
            {
                "id": str(snow.make(ts(created), r)),
                "handle": social.organic_handle(r, first, last),
                "lang": lang,
            }
        )
    rows: list[dict[str, Any]] = []

    def row(
        user: dict[str, str],
        epoch: int,
        text: str,
        urls: list[str],
        repost: str = "",
        reply: str = "",
    ) -> dict[str, Any]:
        mid = str(snow.make(epoch, r))
        rec = {
            "message_id": mid,
            "user_id": user["id"],
            "username": user["handle"],
            "repost_id": repost,
            "reply_id": reply,
            "message": text,
            "timestamp": epoch,
            "urls": " ".join(urls),
        }
        rows.append(rec)
        return rec

    cgtn = articles["a-cgtn-20240529-nato"]["url"]
    links = [cgtn, articles["a-lr-20240531-nato"]["url"]]
    coord_rows = []
    for i in range(9):
        t0 = start + r.randint(3600, end - start - 7200)
        lang = "en" if i % 3 else "cs"
        link = (
            links[1] if t0 > articles["a-lr-20240531-nato"]["epoch"] and r.random() < 0.4 else cgtn
        )
        text = spin(r.choice(social.bank(f"qut.troll.{lang}")), r).replace("[[link]]", link)
        members = r.sample(coordinated, r.randint(6, 10))
        seed = row(members[0], t0, text, [link])
        coord_rows.append(seed)
        for m in members[1:]:
            if r.random() < 0.6:
                coord_rows.append(row(m, t0 + r.randint(1, 40), text, [link]))
            else:
                coord_rows.append(
                    row(
                        m,
                        t0 + r.randint(1, 30),
                        f"RT @{members[0]['handle']}: {text}",
                        [link],
                        repost=seed["message_id"],
                    )
                )
    news = [
        articles["a-bl-20240531-nato"]["url"],
        "https://www.prazsky-denik.example/praha/nato-uzavirky-holesovice",
        "https://www.prazsky-denik.example/zpravy/ministri-nato-v-praze",
    ]
    organic_rows: list[dict[str, Any]] = []
    for _ in range(215):
        user = r.choice(organic)
        epoch = social.when(r, start, end)
        text = spin(r.choice(social.bank(f"qut.org.{user['lang']}")), r)
        urls = []
        if r.random() < 0.2:
            url = r.choice(news)
            if (
                url.startswith("https://brusselsledger")
                and epoch < articles["a-bl-20240531-nato"]["epoch"]
            ):
                url = news[1]
            text, urls = f"{text} {url}", [url]
        reply = ""
        if organic_rows and r.random() < 0.1:
            target = r.choice(organic_rows)
            if target["timestamp"] < epoch and target["user_id"] != user["id"]:
                reply = target["message_id"]
                text = f"@{target['username']} {text}"
        organic_rows.append(row(user, epoch, text, urls, reply=reply))
    for target in r.sample(organic_rows, 25):  # organic retweets, spread out
        user = r.choice(organic)
        epoch = target["timestamp"] + int(r.lognormvariate(7.5, 1.0)) + 60
        if epoch < end and user["id"] != target["user_id"]:
            row(
                user,
                epoch,
                f"RT @{target['username']}: {target['message']}",
                target["urls"].split(),
                repost=target["message_id"],
            )
    rows.sort(key=lambda x: (x["timestamp"], x["message_id"]))
    write_csv(
        out / "social" / "qut_sample.csv", QUT_HEADER, [[x[k] for k in QUT_HEADER] for x in rows]
    )
    return {
        "file": "social/qut_sample.csv",
        "rows": len(rows),
        "coordinated_user_ids": [c["id"] for c in coordinated],
        "coordinated_user_ids_also_in_posts_jsonl": [c["id"] for c in coordinated[:6]],
        "coordinated_message_ids": [x["message_id"] for x in coord_rows],
        "organic_user_ids_also_in_posts_jsonl": [o["id"] for o in organic[:40]],
        "links": links,
    }


IO_HEADER = [
    "tweetid",
    "userid",
    "user_display_name",
    "user_screen_name",
    "user_reported_location",
    "user_profile_description",
    "user_profile_url",
    "follower_count",
    "following_count",
    "account_creation_date",
    "account_language",
    "tweet_language",
    "tweet_text",
    "tweet_time",
    "tweet_client_name",
    "in_reply_to_userid",
    "in_reply_to_tweetid",
    "quoted_tweet_tweetid",
    "is_retweet",
    "retweet_userid",
    "retweet_tweetid",
    "latitude",
    "longitude",
    "quote_count",
    "reply_count",
    "like_count",
    "retweet_count",
    "hashtags",
    "urls",
    "user_mentions",
    "poll_choices",
]

IO_PROFILES = [
    ("Peace lover. Truth seeker. 🇨🇳🤝🇪🇺", "Europe"),
    ("News junkie from Prague", "Prague"),
    ("Independent thinker. No to war.", ""),
    ("热爱和平 热爱生活", "Shenzhen"),
    ("Economist. Views my own.", "London"),
    ("Mother, teacher, traveller", "Brno"),
    ("Tech & EVs ⚡", "Berlin"),
    ("Follow for real news", ""),
]


def build_twitter_io(
    out: Path, social: Social, snow: Snowflakes, articles: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    r = rng("twitter-io")
    users = []
    for i in range(24):
        hashed = i >= 6
        created = dt.datetime(2023, 6, 1, tzinfo=UTC) + dt.timedelta(days=r.randint(0, 290))
        if hashed:
            digest = base64.b64encode(
                hashlib.sha256(f"{SEED}-io-user-{i}".encode()).digest()
            ).decode()
            uid = name = screen = digest
            followers = r.randint(0, 900)
        else:
            uid = str(snow.make(ts(created), r))
            name = [
                "EuroAsia Voice",
                "Peace Not War EU",
                "Real Europe News",
                "Silk Road Friend",
                "Balanced View",
                "Voice of Prague",
            ][i]
            screen = name.replace(" ", "") + str(r.randint(10, 99))
            followers = r.randint(5000, 21000)
        desc, loc = r.choice(IO_PROFILES)
        users.append(
            {
                "id": uid,
                "name": name,
                "screen": screen,
                "loc": loc,
                "desc": desc,
                "url": "" if r.random() < 0.7 else tco(r),
                "followers": followers,
                "following": r.randint(20, 1500),
                "created": created.date().isoformat(),
                "lang": r.choice(["en", "en", "zh-cn", "cs"]),
            }
        )
    lines = [
        (lang, line)
        for lang in ("en", "zh", "cs")
        for line in social.bank(f"io.{lang}")
        for _ in range({"en": 3, "zh": 2, "cs": 1}[lang])
    ]
    start = ts(dt.datetime(2024, 4, 26, 0, 0, tzinfo=UTC))
    end = ts(dt.datetime(2024, 6, 5, 23, 0, tzinfo=UTC))
    rows: list[dict[str, Any]] = []

    def fmt_list(values: list[str]) -> str:
        return "[" + ", ".join(values) + "]"

    originals: list[dict[str, Any]] = []
    while len(originals) < 135:
        lang, line = r.choice(lines)
        match = re.search(r"\[\[link:([a-z0-9-]+)\]\]", line)
        assert match is not None, line
        art = articles[match.group(1)]
        epoch = r.randint(max(start, art["epoch"] + 600), end) if art["epoch"] + 600 < end else None
        if epoch is None:
            continue
        user = r.choice(users)
        text = spin(social.resolve_links(line), r)
        url = art["url"]
        shown = text.replace(url, tco(r))
        tid = str(snow.make(epoch, r))
        rec: dict[str, Any] = {
            "tweetid": tid,
            "user": user,
            "epoch": epoch,
            "text": shown,
            "lang": lang,
            "urls": [url],
            "hashtags": hashtags_of(text),
            "retweet_of": None,
            "reply_to": None,
            "mentions": [],
        }
        originals.append(rec)
        rows.append(rec)
    for _ in range(185):
        orig = r.choice(originals)
        user = r.choice([u for u in users if u is not orig["user"]])
        epoch = orig["epoch"] + int(r.expovariate(1 / 400)) + 15
        if epoch > end:
            continue
        rows.append(
            {
                "tweetid": str(snow.make(epoch, r)),
                "user": user,
                "epoch": epoch,
                "text": f"RT @{orig['user']['screen']}: {orig['text']}",
                "lang": orig["lang"],
                "urls": orig["urls"],
                "hashtags": orig["hashtags"],
                "retweet_of": orig,
                "reply_to": None,
                "mentions": [orig["user"]["id"]],
            }
        )
    for _ in range(12):
        orig = r.choice(originals)
        user = r.choice([u for u in users if u is not orig["user"]])
        epoch = orig["epoch"] + r.randint(120, 7200)
        if epoch > end:
            continue
        text = r.choice(
            ["So true!", "Exactly. 👍", "说得好！", "The West should listen.", "Přesně tak."]
        )
        rows.append(
            {
                "tweetid": str(snow.make(epoch, r)),
                "user": user,
                "epoch": epoch,
                "text": f"@{orig['user']['screen']} {text}",
                "lang": "en",
                "urls": [],
                "hashtags": [],
                "retweet_of": None,
                "reply_to": orig,
                "mentions": [orig["user"]["id"]],
            }
        )
    rows.sort(key=lambda x: (x["epoch"], x["tweetid"]))
    table = []
    for x in rows:
        u = x["user"]
        rt, rp = x["retweet_of"], x["reply_to"]
        table.append(
            [
                x["tweetid"],
                u["id"],
                u["name"],
                u["screen"],
                u["loc"],
                u["desc"],
                u["url"],
                u["followers"],
                u["following"],
                u["created"],
                u["lang"],
                x["lang"],
                x["text"],
                dt.datetime.fromtimestamp(x["epoch"], UTC).strftime("%Y-%m-%d %H:%M"),
                r.choice(["Twitter Web App", "Twitter for Android", "Twitter for iPhone"]),
                rp["user"]["id"] if rp else "",
                rp["tweetid"] if rp else "",
                "",
                "True" if rt else "False",
                rt["user"]["id"] if rt else "",
                rt["tweetid"] if rt else "",
                "absent",
                "absent",
                0 if rt else r.randint(0, 3),
                0 if rt else r.randint(0, 5),
                0 if rt else r.randint(0, 40),
                0 if rt else r.randint(0, 25),
                fmt_list(x["hashtags"]),
                fmt_list(x["urls"]),
                fmt_list(x["mentions"]),
                "",
            ]
        )
    write_csv(out / "social" / "twitter_io_sample.csv", IO_HEADER, table)
    return {
        "file": "social/twitter_io_sample.csv",
        "rows": len(table),
        "all_state_linked": True,
        "user_ids": [u["id"] for u in users],
        "hashed_user_ids": [u["id"] for u in users[6:]],
        "note": "every row belongs to a state-linked amplification set (as in a platform IO disclosure); "
        "accounts with fewer than 5,000 followers have hashed userid/name/screen name",
    }


# ---------------------------------------------------------------------------- mail

ZIP_DATE = (2024, 5, 20, 9, 0, 0)


def zip_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


PLACEHOLDER = b"fimiwatch demo placeholder - harmless bytes, not an executable payload\n"


def docm_placeholder() -> bytes:
    """A macro-enabled Word container (ZIP/OOXML) whose 'macro' is plain text."""
    ctypes = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="xml" ContentType="application/xml"/>'
        b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
        b'<Override PartName="/word/document.xml" '
        b'ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>'
    )
    doc = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
        b"<w:t>Agenda (demo placeholder)</w:t></w:r></w:p></w:body></w:document>"
    )
    return zip_bytes(
        [
            ("[Content_Types].xml", ctypes),
            ("word/document.xml", doc),
            ("word/vbaProject.bin", PLACEHOLDER),
        ]
    )


def lnk_placeholder() -> bytes:
    """A Windows shortcut header (magic + LinkCLSID) with no link target: inert."""
    header = bytes.fromhex("4c0000000114020000000000c000000000000046")
    return header + b"\x00" * (76 - len(header)) + PLACEHOLDER


def iso_placeholder() -> bytes:
    """ISO 9660 magic ('CD001' at offset 0x8001) and nothing else."""
    return b"\x00" * 0x8000 + b"\x01CD001\x01\x00" + PLACEHOLDER.ljust(0x800 - 8, b"\x00")


def pdf_placeholder(title: str) -> bytes:
    body = (
        f"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        f"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        f"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
        f"4 0 obj << /Title ({title}) >> endobj\ntrailer << /Root 1 0 R /Info 4 0 R >>\n%%EOF\n"
    )
    return body.encode("ascii")


def html_mail(paragraphs: list[str], extra: str = "", signature: str = "") -> str:
    ps = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    sig = f'<p style="color:#555;font-size:12px">{signature}</p>' if signature else ""
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family:Arial,sans-serif;font-size:14px">\n{ps}\n{sig}\n{extra}\n</body></html>\n'
    )


def build_message(
    key: str,
    headers: list[tuple[str, str]],
    text: str,
    html_body: str | None = None,
    calendar: str | None = None,
    attachments: list[tuple[str, str, str, bytes]] | None = None,
) -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in headers:
        msg[name] = value
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html_body is not None:
        msg.add_alternative(html_body, subtype="html", charset="utf-8", cte="quoted-printable")
    if calendar is not None:
        msg.add_alternative(
            calendar,
            subtype="calendar",
            charset="utf-8",
            cte="quoted-printable",
            params={"method": "REQUEST"},
        )
    for filename, maintype, subtype, data in attachments or []:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    for n, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(
            f"----=_Part_{key}_{n}_{hashlib.sha1(f'{key}{n}'.encode()).hexdigest()[:12]}"
        )
    return msg.as_bytes(policy=policy.SMTP)


def message_id_of(data: bytes) -> str:
    return (
        str(email.message_from_bytes(data, policy=policy.default)["Message-ID"]).strip().strip("<>")
    )


def received(frm: str, ip: str, by: str, when: dt.datetime, ident: str) -> str:
    return f"from {frm} ({frm} [{ip}]) by {by} (Postfix) with ESMTPS id {ident}; {format_datetime(when)}"


def auth_results(
    host: str,
    spf: str,
    mailfrom: str,
    dkim: str,
    dkim_d: str,
    dmarc: str,
    header_from: str,
    policy_: str = "NONE",
) -> str:
    dkim_part = (
        f"dkim={dkim} header.d={dkim_d}" if dkim != "none" else "dkim=none (message not signed)"
    )
    return (
        f"{host}; spf={spf} smtp.mailfrom={mailfrom}; {dkim_part}; "
        f"dmarc={dmarc} (p={policy_}) header.from={header_from}"
    )


EP_MX = "mx1.europarl.europa.eu"
PSP_MX = "mx.psp.cz"
KOVANDA = "Radim Kovanda <radim.kovanda@europarl.europa.eu>"
HOLUBOVA = "Tereza Holubová <tereza.holubova@europarl.europa.eu>"
SIMANEK = "Vojtěch Šimánek <simanekv@psp.cz>"
DOBESOVA = "Lenka Dobešová <dobesoval@psp.cz>"
LORENC = "Jakub Lorenc <lorencj@psp.cz>"
HOMOGLYPH = "europaг1.eu"
HOMOGLYPH_ACE = HOMOGLYPH.encode("idna").decode("ascii")


def tracking_pixel_mail(key: str, to: str, mx: str, token: str, when: dt.datetime) -> bytes:
    addr = to.split("<")[1].rstrip(">")
    pixel = (
        f"https://euaffairs-daily.example/t/pixel.gif?id={token}"
        f"&r={addr.replace('@', '%40')}&c=ep24"
    )
    link = f"https://euaffairs-daily.example/news/2024/05/eu-split-over-taiwan-trade-office?ref={token}"
    text = (
        "EU member states split over Taiwan trade office\n\n"
        "Several EU governments are at odds over plans to upgrade trade representation in Taipei, "
        "diplomats told European Affairs Daily. Read the full story:\n" + link + "\n\n"
        "You receive this briefing as a policy professional. European Affairs Daily, Brussels.\n"
    )
    body = html_mail(
        [
            "<b>EU member states split over Taiwan trade office</b>",
            "Several EU governments are at odds over plans to upgrade trade representation in Taipei, "
            "diplomats told <i>European Affairs Daily</i>.",
            f'<a href="{html.escape(link)}">Read the full story</a>',
        ],
        extra=f'<img src="{html.escape(pixel)}" width="1" height="1" alt="" style="display:none;border:0">',
        signature="You receive this briefing as a policy professional. European Affairs Daily, Brussels.",
    )
    headers = [
        (
            "Received",
            received(
                "mail.euaffairs-daily.example",
                "203.0.113.47",
                mx,
                when + dt.timedelta(seconds=3),
                "4VgQ7m2" + token[:4].upper(),
            ),
        ),
        (
            "Authentication-Results",
            auth_results(
                mx, "pass", "euaffairs-daily.example", "none", "", "none", "euaffairs-daily.example"
            ),
        ),
        ("Return-Path", "<bounce@euaffairs-daily.example>"),
        ("From", "European Affairs Daily <editor@euaffairs-daily.example>"),
        ("To", to),
        ("Subject", "Breaking: EU member states split over Taiwan trade office"),
        ("Date", format_datetime(when)),
        ("Message-ID", f"<{token}.{int(when.timestamp())}@euaffairs-daily.example>"),
        ("X-Mailer", "PHPMailer 6.1.4 (https://github.com/PHPMailer/PHPMailer)"),
    ]
    return build_message(key, headers, text, body)


def build_mail(out: Path, ids: Ids) -> dict[str, Any]:
    mails: dict[str, bytes] = {}
    truth: dict[str, Any] = {}

    def d(y: int, mo: int, day: int, h: int, mi: int, sec: int) -> dt.datetime:
        return dt.datetime(y, mo, day, h, mi, sec, tzinfo=CEST)

    # 01 journalist impersonation: a news brand in the display name, free-mail address, Reply-To elsewhere
    when = d(2024, 5, 14, 10, 23, 41)
    text01 = (
        "Dear Mr Kovanda,\n\nI am a correspondent with Reuters in Brussels, working on a feature about "
        "EU-China relations ahead of the European elections. Your work on the Foreign Affairs Committee "
        "makes you an essential voice for this piece.\n\nWould you be available for a short interview this "
        "week? I am travelling, so please reply to my personal address or send me your mobile number so we "
        "can arrange a call on WhatsApp or Signal.\n\nBest regards,\nSarah Whitfield\nCorrespondent, "
        "Reuters Brussels\n"
    )
    mails["01-journalist-impersonation-reuters.eml"] = build_message(
        "01",
        [
            (
                "Received",
                received(
                    "mail-wr1-f54.google.com",
                    "209.85.221.54",
                    EP_MX,
                    when + dt.timedelta(seconds=2),
                    "4VdZ1k0Qm3",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    EP_MX, "pass", "gmail.com", "pass", "gmail.com", "pass", "gmail.com", "NONE"
                ),
            ),
            ("Return-Path", "<reuters.brussels.desk@gmail.com>"),
            ("From", "Reuters Brussels Desk <reuters.brussels.desk@gmail.com>"),
            ("Reply-To", "Sarah Whitfield <s.whitfield.reuters@proton.me>"),
            ("To", KOVANDA),
            ("Subject", "Interview request: EU–China relations ahead of the European elections"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<CAF8qLz3k9Vt2mQx7Rr1bN0aP4sYd6wE@mail.gmail.com>"),
        ],
        text01,
        html_mail([html.escape(p).replace("\n", "<br>") for p in text01.strip().split("\n\n")]),
    )
    truth["01-journalist-impersonation-reuters.eml"] = {
        "verdict": "suspicious",
        "recipient": "radim.kovanda@europarl.europa.eu",
        "indicators": [
            "display_name_brand_mismatch:Reuters vs gmail.com",
            "freemail_sender",
            "reply_to_mismatch:proton.me",
            "move_to_private_channel:WhatsApp/Signal",
            "auth_pass (authentication alone does not clear it)",
        ],
    }

    # 02 APT31-style tracking pixel to an MEP's office
    mails["02-tracking-pixel-mep-office.eml"] = tracking_pixel_mail(
        "02", HOLUBOVA, EP_MX, "7f3c9a21e0b44d18", dt.datetime(2024, 5, 16, 4, 2, 9, tzinfo=UTC)
    )
    truth["02-tracking-pixel-mep-office.eml"] = {
        "verdict": "malicious",
        "recipient": "tereza.holubova@europarl.europa.eu",
        "indicators": [
            "tracking_pixel:1x1 hidden remote image",
            "per_recipient_token:7f3c9a21e0b44d18",
            "recipient_address_in_url",
            "news_brand_on_unknown_domain",
            "dkim_none",
            "dmarc_none",
            "pattern:APT31 2021 reconnaissance mails to IPAC members",
        ],
        "attack": ["T1598.003", "T1589.002"],
    }

    # 03 lookalike parliament domain, link text shows the real domain, href goes elsewhere
    when = d(2024, 5, 22, 7, 48, 30)
    href = "https://europarl-europa.eu/ecas/login.php?u=cmFkaW0ua292YW5kYQ%3D%3D"
    shown = "https://europarl.europa.eu/ecas/verify"
    text03 = (
        "Dear user,\n\nDue to the migration of the European Parliament mail system, all accounts must be "
        "verified before 31 May 2024. Accounts that are not verified will be suspended.\n\n"
        f"Verify your account: {shown}\n\nITEC Service Desk\nEuropean Parliament\n"
    )
    html03 = html_mail(
        [
            "Dear user,",
            "Due to the migration of the European Parliament mail system, all accounts must be "
            "verified <b>before 31 May 2024</b>. Accounts that are not verified will be suspended.",
            f'<a href="{html.escape(href)}">{shown}</a>',
        ],
        signature="ITEC Service Desk · European Parliament",
    )
    mails["03-lookalike-domain-verify-account.eml"] = build_message(
        "03",
        [
            (
                "Received",
                received(
                    "vps-4411.hosting.example",
                    "198.51.100.77",
                    EP_MX,
                    when + dt.timedelta(seconds=4),
                    "4VkM9s1Lq2",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    EP_MX, "pass", "europarl-europa.eu", "none", "", "none", "europarl-europa.eu"
                ),
            ),
            ("Return-Path", "<itec-servicedesk@europarl-europa.eu>"),
            (
                "From",
                "European Parliament – ITEC Service Desk <itec-servicedesk@europarl-europa.eu>",
            ),
            ("To", KOVANDA),
            ("Subject", "[Action required] Verify your EP account before 31 May 2024"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<20240522054830.9f1c2e@europarl-europa.eu>"),
        ],
        text03,
        html03,
    )
    truth["03-lookalike-domain-verify-account.eml"] = {
        "verdict": "malicious",
        "recipient": "radim.kovanda@europarl.europa.eu",
        "indicators": [
            "lookalike_domain:europarl-europa.eu~europarl.europa.eu",
            "link_text_href_mismatch",
            "credential_request",
            "urgency_deadline",
            "external_sender_claims_internal_service",
            "dkim_none",
        ],
        "attack": ["T1566.002"],
    }

    # 04 punycode homoglyph domain
    when = d(2024, 5, 24, 23, 12, 5)
    href = (
        f"https://ecas.{HOMOGLYPH_ACE}/cas/login?service=https%3A%2F%2Fwebmail.europarl.europa.eu"
    )
    text04 = (
        "We detected an unusual sign-in attempt to your EU Login account from Minsk, Belarus.\n\n"
        f"If this was not you, secure your account immediately: https://ecas.{HOMOGLYPH}/cas/login\n\n"
        "EU Login security team\n"
    )
    html04 = html_mail(
        [
            "We detected an unusual sign-in attempt to your EU Login account from "
            "<b>Minsk, Belarus</b>.",
            f'If this was not you, <a href="{html.escape(href)}">secure your account immediately</a>.',
        ],
        signature="EU Login security team",
    )
    mails["04-homoglyph-punycode-signin.eml"] = build_message(
        "04",
        [
            (
                "Received",
                received(
                    f"mail.{HOMOGLYPH_ACE}",
                    "203.0.113.190",
                    EP_MX,
                    when + dt.timedelta(seconds=2),
                    "4VmB3r8Xc1",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(EP_MX, "softfail", HOMOGLYPH_ACE, "none", "", "none", HOMOGLYPH_ACE),
            ),
            ("Return-Path", f"<security@{HOMOGLYPH_ACE}>"),
            ("From", f"EU Login Security <security@{HOMOGLYPH_ACE}>"),
            ("To", KOVANDA),
            ("Subject", "Unusual sign-in attempt to your EU Login account"),
            ("Date", format_datetime(when)),
            ("Message-ID", f"<a81f0c77e2b94d3e@{HOMOGLYPH_ACE}>"),
        ],
        text04,
        html04,
    )
    truth["04-homoglyph-punycode-signin.eml"] = {
        "verdict": "malicious",
        "recipient": "radim.kovanda@europarl.europa.eu",
        "indicators": [
            f"homoglyph_domain:{HOMOGLYPH} ({HOMOGLYPH_ACE})~europarl",
            "punycode_sender_domain",
            "credential_request",
            "urgency",
            "spf_softfail",
            "dkim_none",
        ],
        "attack": ["T1566.002", "T1583.001"],
    }

    # 05 macro-enabled document and a URL shortener from a free-mail "institute"
    when = d(2024, 5, 20, 9, 41, 17)
    text05 = (
        "Dear Honourable Member,\n\nThe Institute for Euro-Asian Dialogue is pleased to invite you to a "
        "closed roundtable on EU-China trade in Vienna on 20 June 2024. Travel and accommodation are "
        "covered by the organisers.\n\nPlease find the agenda attached (enable editing and content to view "
        "it) and register here: https://bit.ly/3Vx9EuRt\n\nKind regards,\nDr. Martin Feld\n"
        "Programme Director\n"
    )
    mails["05-roundtable-docm-shortener.eml"] = build_message(
        "05",
        [
            (
                "Received",
                received(
                    "EUR05-AM6-obe.outbound.protection.outlook.com",
                    "40.107.22.91",
                    PSP_MX,
                    when + dt.timedelta(seconds=3),
                    "4Vj2QpT7n",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    PSP_MX, "pass", "outlook.com", "pass", "outlook.com", "pass", "outlook.com"
                ),
            ),
            ("From", "Institute for Euro-Asian Dialogue <events.ieadialogue@outlook.com>"),
            ("To", SIMANEK),
            ("Subject", "Invitation: closed roundtable on EU–China trade, Vienna, 20 June"),
            ("Date", format_datetime(when)),
            (
                "Message-ID",
                "<AM6PR02MB4423D1C0E8F7A2B9C3D4E5F6@AM6PR02MB4423.eurprd02.prod.outlook.com>",
            ),
        ],
        text05,
        html_mail(
            [html.escape(p).replace("\n", "<br>") for p in text05.strip().split("\n\n")]
        ).replace(
            "https://bit.ly/3Vx9EuRt",
            '<a href="https://bit.ly/3Vx9EuRt">https://bit.ly/3Vx9EuRt</a>',
        ),
        attachments=[
            (
                "Agenda_Roundtable_Vienna_June2024.docm",
                "application",
                "vnd.ms-word.document.macroEnabled.12",
                docm_placeholder(),
            )
        ],
    )
    truth["05-roundtable-docm-shortener.eml"] = {
        "verdict": "malicious",
        "recipient": "simanekv@psp.cz",
        "indicators": [
            "risky_attachment:.docm (macro-enabled)",
            "enable_content_lure",
            "url_shortener:bit.ly",
            "freemail_sender_for_institution",
            "paid_travel_offer",
        ],
        "attack": ["T1566.001", "T1204.002"],
    }

    # 06 spoofed Chamber of Deputies sender, a shortcut inside a ZIP, SPF/DKIM/DMARC all fail
    when = d(2024, 5, 31, 16, 4, 55)
    text06 = (
        "Vážená paní poslankyně,\n\nv příloze zasíláme podklady pro jednání Výboru pro bezpečnost dne "
        "4. 6. 2024. Prosíme o prostudování před jednáním.\n\nS pozdravem\nKancelář Poslanecké sněmovny\n"
    )
    mails["06-spoofed-psp-lnk-in-zip.eml"] = build_message(
        "06",
        [
            (
                "Received",
                received(
                    "unknown", "198.51.100.23", PSP_MX, when + dt.timedelta(seconds=1), "4VqX0bN5s8"
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    PSP_MX, "fail", "psp.cz", "fail", "psp.cz", "fail", "psp.cz", "QUARANTINE"
                ),
            ),
            (
                "Received-SPF",
                "fail (mx.psp.cz: domain of psp.cz does not designate 198.51.100.23 as permitted sender)",
            ),
            ("Return-Path", "<bounce-77421@mail-srv17.example>"),
            ("From", "Kancelář Poslanecké sněmovny <podatelna@psp.cz>"),
            ("To", DOBESOVA),
            ("Subject", "Podklady pro jednání výboru pro bezpečnost 4. 6. 2024"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<6f2b9e01c7d34a58@mail-srv17.example>"),
        ],
        text06,
        html_mail([html.escape(p).replace("\n", "<br>") for p in text06.strip().split("\n\n")]),
        attachments=[
            (
                "Podklady_výbor_bezpečnost_2024-06-04.zip",
                "application",
                "zip",
                zip_bytes([("Podklady_vybor_bezpecnost.pdf.lnk", lnk_placeholder())]),
            )
        ],
    )
    truth["06-spoofed-psp-lnk-in-zip.eml"] = {
        "verdict": "malicious",
        "recipient": "dobesoval@psp.cz",
        "indicators": [
            "spf_fail",
            "dkim_fail",
            "dmarc_fail",
            "spoofed_watched_domain:psp.cz",
            "return_path_mismatch",
            "archive_with_lnk",
            "double_extension:.pdf.lnk",
        ],
        "attack": ["T1566.001", "T1204.002", "T1036.007"],
    }

    # 07 disk image attachment, finance lure
    when = d(2024, 5, 28, 8, 15, 0)
    text07 = (
        "Dear colleague,\n\nYour travel reimbursement request MIS-2024-05-1187 cannot be processed because "
        "the signed form is missing. Please open the attached file, complete the form and send it back "
        "within 48 hours.\n\nFinance Unit – Reimbursements\n"
    )
    mails["07-travel-reimbursement-iso.eml"] = build_message(
        "07",
        [
            (
                "Received",
                received(
                    "smtp.ep-finance-services.example",
                    "203.0.113.5",
                    EP_MX,
                    when + dt.timedelta(seconds=2),
                    "4VpL7c3Wd0",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    EP_MX,
                    "softfail",
                    "ep-finance-services.example",
                    "none",
                    "",
                    "none",
                    "ep-finance-services.example",
                ),
            ),
            ("From", "EP Finance – Reimbursements <reimbursement@ep-finance-services.example>"),
            ("To", HOLUBOVA),
            ("Subject", "Travel reimbursement – missing form (ref. MIS-2024-05-1187)"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<mis-2024-05-1187.1716876900@ep-finance-services.example>"),
        ],
        text07,
        html_mail([html.escape(p).replace("\n", "<br>") for p in text07.strip().split("\n\n")]),
        attachments=[
            (
                "Reimbursement_Form_MIS-2024-05-1187.iso",
                "application",
                "x-iso9660-image",
                iso_placeholder(),
            )
        ],
    )
    truth["07-travel-reimbursement-iso.eml"] = {
        "verdict": "malicious",
        "recipient": "tereza.holubova@europarl.europa.eu",
        "indicators": [
            "risky_attachment:.iso (disk image)",
            "institution_brand_on_unrelated_domain",
            "finance_lure",
            "urgency:48 hours",
            "spf_softfail",
            "dkim_none",
        ],
        "attack": ["T1566.001", "T1553.005"],
    }

    # 08 a genuine newsletter with a marketing open pixel; everything authenticates
    when = dt.datetime(2024, 5, 23, 4, 30, 0, tzinfo=UTC)
    sub = "c8e1f2a9d0"
    text08 = (
        "The Brussels Ledger – Morning Briefing, 23 May 2024\n\n"
        "1. China stages drills around Taiwan; EU urges restraint.\n"
        "2. Czech parties enter the final two weeks of the EP campaign.\n"
        "3. Commission to decide on EV duties by early July.\n\n"
        "Read online: https://brusselsledger.example/briefing/2024-05-23\n"
        "Unsubscribe: https://news.brusselsledger.example/u/" + sub + "\n"
    )
    html08 = html_mail(
        [
            "<b>The Brussels Ledger – Morning Briefing</b>, 23 May 2024",
            "1. China stages drills around Taiwan; EU urges restraint.<br>"
            "2. Czech parties enter the final two weeks of the EP campaign.<br>"
            "3. Commission to decide on EV duties by early July.",
            f'<a href="https://click.brusselsledger.example/c/{sub}/briefing-2024-05-23">Read online</a> · '
            f'<a href="https://news.brusselsledger.example/u/{sub}">Unsubscribe</a>',
        ],
        extra=f'<img src="https://click.brusselsledger.example/o/{sub}.gif" width="1" height="1" alt="">',
    )
    mails["08-newsletter-benign.eml"] = build_message(
        "08",
        [
            (
                "Received",
                received(
                    "o12.mailer.brusselsledger.example",
                    "192.0.2.12",
                    EP_MX,
                    when + dt.timedelta(seconds=5),
                    "4VhT6y2Ka4",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    EP_MX,
                    "pass",
                    "mailer.brusselsledger.example",
                    "pass",
                    "brusselsledger.example",
                    "pass",
                    "brusselsledger.example",
                    "REJECT",
                ),
            ),
            (
                "DKIM-Signature",
                "v=1; a=rsa-sha256; c=relaxed/relaxed; d=brusselsledger.example; s=mail2024; "
                "h=from:to:subject:date:list-unsubscribe; bh=Zm9vYmFyYmF6ZGVtb2JvZHloYXNo; "
                "b=ZGVtbyBzaWduYXR1cmUgZm9yIHRoZSBmaW1pd2F0Y2ggY29ycHVz",
            ),
            ("From", "The Brussels Ledger <briefing@brusselsledger.example>"),
            ("To", KOVANDA),
            ("Subject", "Morning Briefing: drills around Taiwan, EV duties, Czech campaign"),
            ("Date", format_datetime(when)),
            ("Message-ID", f"<briefing-20240523.{sub}@mailer.brusselsledger.example>"),
            ("List-Id", "Morning Briefing <briefing.brusselsledger.example>"),
            (
                "List-Unsubscribe",
                f"<https://news.brusselsledger.example/u/{sub}>, "
                "<mailto:unsubscribe@brusselsledger.example>",
            ),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
        ],
        text08,
        html08,
    )
    truth["08-newsletter-benign.eml"] = {
        "verdict": "benign",
        "recipient": "radim.kovanda@europarl.europa.eu",
        "indicators": [
            "marketing_open_pixel (benign context)",
            "list_unsubscribe",
            "spf_pass",
            "dkim_pass",
            "dmarc_pass",
        ],
        "note": "hard negative: a tracking pixel alone must not make a mail malicious",
    }

    # 09 colleague mail (internal reply thread)
    when = d(2024, 5, 27, 14, 2, 44)
    text09 = (
        "Ahoj Radime,\n\nposílám upravené pozměňovací návrhy k návrhu zprávy AFET. Zapracovala jsem "
        "připomínky od kolegů z EPP, změny jsou v bodech 12 a 17. Termín pro podání je ve čtvrtek ve 12:00.\n\n"
        "Díky,\nTereza\n"
    )
    mails["09-colleague-afet-amendments.eml"] = build_message(
        "09",
        [
            (
                "Received",
                received(
                    "ep-mbx04.europarl.europa.eu",
                    "10.40.3.14",
                    EP_MX,
                    when + dt.timedelta(seconds=1),
                    "4VnF2d9Hr7",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    EP_MX,
                    "pass",
                    "europarl.europa.eu",
                    "pass",
                    "europarl.europa.eu",
                    "pass",
                    "europarl.europa.eu",
                    "REJECT",
                ),
            ),
            ("From", HOLUBOVA),
            ("To", KOVANDA),
            ("Subject", "Re: AFET – pozměňovací návrhy ke zprávě o vztazích EU–Čína"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<DB9PR01MB7342A1B2C3D4E5F6@DB9PR01MB7342.ep.europa.eu>"),
            ("In-Reply-To", "<DB9PR01MB7342F6E5D4C3B2A1@DB9PR01MB7342.ep.europa.eu>"),
            ("References", "<DB9PR01MB7342F6E5D4C3B2A1@DB9PR01MB7342.ep.europa.eu>"),
        ],
        text09,
        html_mail([html.escape(p).replace("\n", "<br>") for p in text09.strip().split("\n\n")]),
    )
    truth["09-colleague-afet-amendments.eml"] = {
        "verdict": "benign",
        "recipient": "radim.kovanda@europarl.europa.eu",
        "indicators": ["internal_sender", "auth_pass"],
    }

    # 10 calendar invite
    when = d(2024, 5, 29, 11, 30, 0)
    ics = (
        "BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\nVERSION:2.0\r\n"
        "METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:040000008200E00074C5B7101A82E0080000000010F0A1B2C3D4E5F6\r\n"
        "DTSTAMP:20240529T093000Z\r\nDTSTART;TZID=Romance Standard Time:20240604T140000\r\n"
        "DTEND;TZID=Romance Standard Time:20240604T153000\r\n"
        "SUMMARY:AFET coordinators' meeting\r\nLOCATION:ASP 3G2\\, Brussels\r\n"
        "ORGANIZER;CN=AFET Secretariat:mailto:afet-secretariat@europarl.europa.eu\r\n"
        "ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE;CN=Radim Kovanda:mailto:radim.kovanda@europarl.europa.eu\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    mails["10-calendar-invite-afet.eml"] = build_message(
        "10",
        [
            (
                "Received",
                received(
                    "ep-mbx02.europarl.europa.eu",
                    "10.40.3.12",
                    EP_MX,
                    when + dt.timedelta(seconds=1),
                    "4VnZ8q1Pk3",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    EP_MX,
                    "pass",
                    "europarl.europa.eu",
                    "pass",
                    "europarl.europa.eu",
                    "pass",
                    "europarl.europa.eu",
                    "REJECT",
                ),
            ),
            ("From", "AFET Secretariat <afet-secretariat@europarl.europa.eu>"),
            ("To", KOVANDA),
            ("Subject", "Invitation: AFET coordinators' meeting – 4 June 2024 14:00–15:30"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<AM0PR01MB5521C0FFEE123456@AM0PR01MB5521.ep.europa.eu>"),
        ],
        "AFET coordinators' meeting\nTuesday 4 June 2024, 14:00-15:30, ASP 3G2, Brussels\n",
        html_mail(
            [
                "<b>AFET coordinators' meeting</b>",
                "Tuesday 4 June 2024, 14:00–15:30, ASP 3G2, Brussels",
            ]
        ),
        calendar=ics,
    )
    truth["10-calendar-invite-afet.eml"] = {
        "verdict": "benign",
        "recipient": "radim.kovanda@europarl.europa.eu",
        "indicators": ["internal_sender", "calendar_invite", "auth_pass"],
    }

    # 11 press release with a PDF
    when = d(2024, 5, 30, 9, 0, 0)
    text11 = (
        "TISKOVÁ ZPRÁVA\n\nPražské centrum pro bezpečnostní studia dnes zveřejnilo studii o vlivových "
        "operacích před volbami do Evropského parlamentu. Studie popisuje mimo jiné přebírání obsahu "
        "čínských státních médií weby bez uvedení zdroje.\n\nStudie ke stažení: "
        "https://www.pcss.example/studie/vlivove-operace-2024\n\nKontakt pro média: Petra Vlková, "
        "press@pcss.example, +420 222 000 111\n"
    )
    mails["11-press-release-benign.eml"] = build_message(
        "11",
        [
            (
                "Received",
                received(
                    "mail.pcss.example",
                    "192.0.2.40",
                    PSP_MX,
                    when + dt.timedelta(seconds=2),
                    "4VpC1x7Mz2",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    PSP_MX,
                    "pass",
                    "pcss.example",
                    "pass",
                    "pcss.example",
                    "pass",
                    "pcss.example",
                    "QUARANTINE",
                ),
            ),
            ("From", "Pražské centrum pro bezpečnostní studia <press@pcss.example>"),
            ("To", SIMANEK),
            ("Subject", "Tisková zpráva: Nová studie o vlivových operacích před volbami do EP"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<tz-2024-05-30.1@pcss.example>"),
        ],
        text11,
        html_mail([html.escape(p).replace("\n", "<br>") for p in text11.strip().split("\n\n")]),
        attachments=[
            (
                "PCSS_studie_vlivove_operace_2024.pdf",
                "application",
                "pdf",
                pdf_placeholder("PCSS study (demo placeholder)"),
            )
        ],
    )
    truth["11-press-release-benign.eml"] = {
        "verdict": "benign",
        "recipient": "simanekv@psp.cz",
        "indicators": ["auth_pass", "pdf_attachment (benign)", "links_on_sender_domain"],
    }

    # 12 "POLITICO" request from an outlook.com address with an external form
    when = d(2024, 5, 21, 15, 37, 12)
    text12 = (
        "Dear Mr Šimánek,\n\nPOLITICO Europe is preparing a story about your delegation's visit to Taiwan "
        "in April. Could you answer a few questions through our short form by Friday? "
        "https://forms.gle/q7Wm2HcXy9TzK4pA8\n\nThank you,\nNewsroom, POLITICO Europe\n"
    )
    mails["12-journalist-impersonation-politico.eml"] = build_message(
        "12",
        [
            (
                "Received",
                received(
                    "EUR02-VI1-obe.outbound.protection.outlook.com",
                    "40.107.20.55",
                    PSP_MX,
                    when + dt.timedelta(seconds=3),
                    "4VkR5t0Gy6",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    PSP_MX, "pass", "outlook.com", "pass", "outlook.com", "pass", "outlook.com"
                ),
            ),
            ("From", "POLITICO Europe Newsroom <politico.eu.newsroom@outlook.com>"),
            ("To", SIMANEK),
            ("Subject", "Request for comment: Czech delegation to Taiwan"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<VI1PR08MB5311A9B8C7D6E5F4@VI1PR08MB5311.eurprd08.prod.outlook.com>"),
        ],
        text12,
        html_mail([html.escape(p).replace("\n", "<br>") for p in text12.strip().split("\n\n")]),
    )
    truth["12-journalist-impersonation-politico.eml"] = {
        "verdict": "suspicious",
        "recipient": "simanekv@psp.cz",
        "indicators": [
            "display_name_brand_mismatch:POLITICO vs outlook.com",
            "freemail_sender",
            "external_form_link:forms.gle",
            "auth_pass",
        ],
    }

    # 13 a genuine journalist (hard negative for 01/12)
    when = d(2024, 5, 20, 16, 10, 3)
    text13 = (
        "Dobrý den, paní Menšíková,\n\npíšu ověřovací článek o tvrzeních, která se o Vás šíří na sociálních "
        "sítích. Mohla byste mi potvrdit roky Vašeho studia v USA a to, jak dlouho jste pracovala v Centru "
        "pro otevřený společenský dialog? Odpověď by mi pomohla do středy.\n\nDěkuji,\nOndřej Malý\n"
        "redaktor, Pražský deník\n+420 777 000 123\n"
    )
    mails["13-genuine-journalist-request.eml"] = build_message(
        "13",
        [
            (
                "Received",
                received(
                    "mail.prazsky-denik.example",
                    "192.0.2.81",
                    "mx.jasny-smer.example",
                    when + dt.timedelta(seconds=2),
                    "4VjW3e6Ub9",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    "mx.jasny-smer.example",
                    "pass",
                    "prazsky-denik.example",
                    "pass",
                    "prazsky-denik.example",
                    "pass",
                    "prazsky-denik.example",
                    "REJECT",
                ),
            ),
            ("From", "Ondřej Malý <ondrej.maly@prazsky-denik.example>"),
            ("To", "Klára Menšíková <klara.mensikova@jasny-smer.example>"),
            ("Subject", "Dotaz k ověření – stipendium a Centrum pro otevřený společenský dialog"),
            ("Date", format_datetime(when)),
            ("Message-ID", "<5d0c3a1e-9b7f-4e2a-8c61-0f4d2e7b9a13@prazsky-denik.example>"),
        ],
        text13,
        html_mail([html.escape(p).replace("\n", "<br>") for p in text13.strip().split("\n\n")]),
    )
    truth["13-genuine-journalist-request.eml"] = {
        "verdict": "benign",
        "recipient": "klara.mensikova@jasny-smer.example",
        "indicators": ["sender_domain_matches_outlet", "auth_pass", "no_links", "no_attachments"],
        "note": "hard negative for journalist impersonation",
    }

    # 14 all-expenses-paid seminar in China from the recruiter cluster's company
    when = d(2024, 5, 24, 10, 5, 50)
    text14 = (
        "Dear Mr Lorenc,\n\nI came across your profile and was really impressed by your experience in "
        "foreign and security policy. EuroAsia Policy Insight is a London-based consultancy advising clients "
        "in Asia on European policy. We would be glad to invite you to our Europe–Asia Dialogue seminar in "
        "Shenzhen this autumn, with all travel and accommodation covered. We also commission short reports "
        "(3,000–5,000 words) on Central European politics, with an honorarium of EUR 1,500–3,000 per report."
        "\n\nIf you are interested, may we continue on WeChat (ID: sophie_eap) or WhatsApp? It is easier for "
        "me to share details there.\n\nBest regards,\nSophie Lin\nSenior Research Manager, EuroAsia Policy "
        "Insight\n"
    )
    mails["14-seminar-invitation-china.eml"] = build_message(
        "14",
        [
            (
                "Received",
                received(
                    "mail.eapinsight.example",
                    "192.0.2.133",
                    PSP_MX,
                    when + dt.timedelta(seconds=2),
                    "4VmK0w2Ns5",
                ),
            ),
            (
                "Authentication-Results",
                auth_results(
                    PSP_MX,
                    "pass",
                    "eapinsight.example",
                    "pass",
                    "eapinsight.example",
                    "pass",
                    "eapinsight.example",
                ),
            ),
            ("From", "Sophie Lin <sophie.lin@eapinsight.example>"),
            ("To", LORENC),
            (
                "Subject",
                "Invitation: Europe–Asia Dialogue seminar in Shenzhen (all expenses covered)",
            ),
            ("Date", format_datetime(when)),
            ("Message-ID", "<eap-20240524-0412@eapinsight.example>"),
        ],
        text14,
        html_mail([html.escape(p).replace("\n", "<br>") for p in text14.strip().split("\n\n")]),
    )
    truth["14-seminar-invitation-china.eml"] = {
        "verdict": "suspicious",
        "recipient": "lorencj@psp.cz",
        "indicators": [
            "all_expenses_paid_trip:Shenzhen",
            "paid_report_offer",
            "move_to_private_channel:WeChat/WhatsApp",
            "flattery",
            "targets_parliamentary_staff",
            "company:EuroAsia Policy Insight (profile cluster)",
        ],
        "disarm": [],
        "related_profiles": ["prof-sophie-lin"],
    }

    for name, data in mails.items():
        write_bytes(out / "mail" / name, data)

    # the mbox: a few more messages, one mailbox
    mbox_msgs: list[tuple[str, dt.datetime, bytes, dict[str, Any]]] = []
    when = d(2024, 5, 15, 17, 20, 0)
    mbox_msgs.append(
        (
            "lorencj@psp.cz",
            when,
            build_message(
                "m1",
                [
                    ("Received", received("mbx1.psp.cz", "10.1.2.21", PSP_MX, when, "4VcP1a2Bb3")),
                    (
                        "Authentication-Results",
                        auth_results(
                            PSP_MX,
                            "pass",
                            "psp.cz",
                            "pass",
                            "psp.cz",
                            "pass",
                            "psp.cz",
                            "QUARANTINE",
                        ),
                    ),
                    ("From", LORENC),
                    ("To", SIMANEK),
                    ("Subject", "Re: Podklady na zítřejší výbor"),
                    ("Date", format_datetime(when)),
                    ("Message-ID", "<20240515172000.lorencj@psp.cz>"),
                    ("In-Reply-To", "<20240515160112.simanekv@psp.cz>"),
                ],
                "Dobrý den,\n\npodklady jsem vytiskl a dal na stůl. Ve 14:00 je zasedací místnost č. 142.\n\nJakub\n",
            ),
            {"verdict": "benign", "indicators": ["internal_sender", "auth_pass"]},
        )
    )
    when = d(2024, 5, 18, 21, 47, 13)
    href = "https://psp.cz.login-portal.example/owa/auth.aspx?u=simanekv"
    mbox_msgs.append(
        (
            "sharepoint@psp-cz-docs.example",
            when,
            build_message(
                "m2",
                [
                    (
                        "Received",
                        received(
                            "srv1.psp-cz-docs.example", "203.0.113.88", PSP_MX, when, "4VeS8d3Ff6"
                        ),
                    ),
                    (
                        "Authentication-Results",
                        auth_results(
                            PSP_MX,
                            "none",
                            "psp-cz-docs.example",
                            "none",
                            "",
                            "none",
                            "psp-cz-docs.example",
                        ),
                    ),
                    ("From", "SharePoint PSP <sharepoint@psp-cz-docs.example>"),
                    ("To", SIMANEK),
                    (
                        "Subject",
                        "Jakub Lorenc s vámi sdílel dokument „Návrh usnesení – Tchaj-wan.docx“",
                    ),
                    ("Date", format_datetime(when)),
                    ("Message-ID", "<sp-8814.1716061633@psp-cz-docs.example>"),
                ],
                "Jakub Lorenc s vámi sdílel dokument.\nOtevřít: https://psp.cz/sharepoint/navrh-usneseni\n",
                html_mail(
                    [
                        "Jakub Lorenc s vámi sdílel dokument <b>Návrh usnesení – Tchaj-wan.docx</b>.",
                        f'<a href="{html.escape(href)}">https://psp.cz/sharepoint/navrh-usneseni</a>',
                    ]
                ),
            ),
            {
                "verdict": "malicious",
                "indicators": [
                    "watched_domain_as_subdomain:psp.cz.login-portal.example",
                    "link_text_href_mismatch",
                    "credential_harvest_owa",
                    "impersonates_colleague",
                    "spf_none",
                    "dkim_none",
                ],
                "attack": ["T1566.002"],
            },
        )
    )
    when = d(2024, 5, 21, 8, 0, 2)
    mbox_msgs.append(
        (
            "dobesoval@psp.cz",
            when,
            build_message(
                "m3",
                [
                    ("Received", received("mbx2.psp.cz", "10.1.2.22", PSP_MX, when, "4VgA5b6Cc7")),
                    (
                        "Authentication-Results",
                        auth_results(
                            PSP_MX,
                            "pass",
                            "psp.cz",
                            "pass",
                            "psp.cz",
                            "pass",
                            "psp.cz",
                            "QUARANTINE",
                        ),
                    ),
                    ("From", DOBESOVA),
                    ("To", SIMANEK),
                    ("Subject", "Automatická odpověď: Výbor pro bezpečnost"),
                    ("Date", format_datetime(when)),
                    ("Message-ID", "<oof-20240521080002.dobesoval@psp.cz>"),
                    ("Auto-Submitted", "auto-replied"),
                ],
                "Dobrý den, do 24. 5. jsem mimo kancelář. V naléhavých případech kontaktujte asistentku.\n",
            ),
            {"verdict": "benign", "indicators": ["auto_reply", "internal_sender"]},
        )
    )
    when = d(2024, 5, 25, 12, 33, 40)
    mbox_msgs.append(
        (
            "freetaiwan.petice@gmail.com",
            when,
            build_message(
                "m4",
                [
                    (
                        "Received",
                        received(
                            "mail-ej1-f47.google.com", "209.85.218.47", PSP_MX, when, "4VmH1c2Dd3"
                        ),
                    ),
                    (
                        "Authentication-Results",
                        auth_results(
                            PSP_MX, "pass", "gmail.com", "pass", "gmail.com", "pass", "gmail.com"
                        ),
                    ),
                    ("From", "Petice za svobodný Tchaj-wan <freetaiwan.petice@gmail.com>"),
                    ("To", SIMANEK),
                    ("Subject", "Podpořte petici – stačí jeden klik"),
                    ("Date", format_datetime(when)),
                    ("Message-ID", "<CAJm2pX9r8tY7uI6o5p4a3s2d1f0g@mail.gmail.com>"),
                ],
                "Vážený pane poslanče,\n\npodpořte prosím naši petici: https://tinyurl.com/petice-tw-2024\n\nDěkujeme!\n",
            ),
            {
                "verdict": "suspicious",
                "indicators": [
                    "url_shortener:tinyurl.com",
                    "freemail_sender",
                    "unsolicited_political_request",
                ],
            },
        )
    )
    when = d(2024, 5, 29, 7, 0, 0)
    mbox_msgs.append(
        (
            "newsletter@pcss.example",
            when,
            build_message(
                "m5",
                [
                    (
                        "Received",
                        received("mail.pcss.example", "192.0.2.40", PSP_MX, when, "4VnY2d3Ee4"),
                    ),
                    (
                        "Authentication-Results",
                        auth_results(
                            PSP_MX,
                            "pass",
                            "pcss.example",
                            "pass",
                            "pcss.example",
                            "pass",
                            "pcss.example",
                            "QUARANTINE",
                        ),
                    ),
                    ("From", "PCSS Newsletter <newsletter@pcss.example>"),
                    ("To", SIMANEK),
                    ("Subject", "PCSS Newsletter – květen 2024"),
                    ("Date", format_datetime(when)),
                    ("Message-ID", "<nl-2024-05.5521@pcss.example>"),
                    ("List-Unsubscribe", "<https://www.pcss.example/odhlasit?u=5521>"),
                    ("Precedence", "bulk"),
                ],
                "PCSS Newsletter – květen 2024\nNové studie a akce: https://www.pcss.example/novinky\n",
                html_mail(
                    [
                        "<b>PCSS Newsletter – květen 2024</b>",
                        '<a href="https://www.pcss.example/novinky?utm_source=newsletter">Nové studie a akce</a>',
                    ],
                    extra='<img src="https://www.pcss.example/nl/open.gif?u=5521" width="1" height="1" alt="">',
                ),
            ),
            {
                "verdict": "benign",
                "indicators": [
                    "marketing_open_pixel (benign context)",
                    "auth_pass",
                    "list_unsubscribe",
                ],
            },
        )
    )
    when = dt.datetime(2024, 5, 16, 4, 2, 51, tzinfo=UTC)
    mbox_msgs.append(
        (
            "editor@euaffairs-daily.example",
            when,
            tracking_pixel_mail("m6", SIMANEK, PSP_MX, "b29e07d5c1a84f60", when),
            {
                "verdict": "malicious",
                "indicators": [
                    "tracking_pixel:1x1 hidden remote image",
                    "per_recipient_token:b29e07d5c1a84f60",
                    "recipient_address_in_url",
                    "same_campaign_as:02-tracking-pixel-mep-office.eml",
                ],
                "attack": ["T1598.003", "T1589.002"],
            },
        )
    )
    chunks = []
    mbox_truth = []
    for index, (sender, when, data, verdict) in enumerate(mbox_msgs):
        body = data.replace(b"\r\n", b"\n")
        body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
        stamp = dt.datetime.fromtimestamp(when.timestamp(), UTC).strftime("%a %b %d %H:%M:%S %Y")
        chunks.append(f"From {sender} {stamp}\n".encode() + body.rstrip(b"\n") + b"\n\n")
        mid = message_id_of(data)
        mbox_truth.append({"index": index, "message_id": mid, **verdict})
    write_bytes(out / "mail" / "inbox.mbox", b"".join(chunks))

    # mail item ids are Message-IDs: register them
    for name, data in mails.items():
        mid = message_id_of(data)
        ids.claim(mid)
        truth[name]["message_id"] = mid
    for m in mbox_truth:
        ids.claim(m["message_id"])
    return {
        "files": truth,
        "mbox": {"file": "mail/inbox.mbox", "messages": mbox_truth},
        "tracking_tokens": {
            "7f3c9a21e0b44d18": "tereza.holubova@europarl.europa.eu",
            "b29e07d5c1a84f60": "simanekv@psp.cz",
        },
        "lookalike_domains": [
            "europarl-europa.eu",
            HOMOGLYPH_ACE,
            "psp.cz.login-portal.example",
            "psp-cz-docs.example",
        ],
    }


# ---------------------------------------------------------------------------- professional-network profiles

EAP = {
    "company": "EuroAsia Policy Insight Ltd",
    "company_domain": "eapinsight.example",
    "company_followers": 4870,
    "company_employees_on_platform": 2,
}

GOV_CONTACTS = [
    ("Jakub Lorenc", "Parliamentary Assistant", "Chamber of Deputies of the Czech Republic"),
    ("Tereza Holubová", "Accredited Parliamentary Assistant", "European Parliament"),
    ("Lenka Dobešová", "Member of Parliament", "Chamber of Deputies of the Czech Republic"),
    ("Marek Šťastný", "Policy Officer", "Ministry of Defence of the Czech Republic"),
    ("Anna Berger", "Adviser, Security Policy", "Federal Foreign Office"),
    ("Piotr Zieliński", "Analyst", "Ministry of National Defence (Poland)"),
    (
        "Katarína Oravcová",
        "Diplomat",
        "Ministry of Foreign and European Affairs of the Slovak Republic",
    ),
    ("Jan Vrba", "Adviser to MP", "Chamber of Deputies of the Czech Republic"),
    ("Claire Dubois", "Policy Adviser", "European Parliament"),
    ("Ondřej Kučera", "Officer", "Army of the Czech Republic"),
    ("Lukas Meier", "Staff Officer", "NATO Allied Command Transformation"),
    ("Eva Horáková", "Head of Unit", "Ministry of Foreign Affairs of the Czech Republic"),
]
MIXED_CONTACTS = [
    ("Petra Nováková", "Marketing Manager", "Škoda Auto"),
    ("Tomáš Beneš", "Software Engineer", "Avast"),
    ("Julia Weber", "PhD candidate", "Universität Wien"),
    ("Martin Král", "Editor", "Pražský deník"),
    ("Sophie Martin", "Lecturer", "Sciences Po"),
    ("David Fiala", "Analyst", "Ministry of Foreign Affairs of the Czech Republic"),
    ("Hana Pokorná", "Teacher", "Gymnázium Jana Nerudy"),
    ("Lucas Petit", "Consultant", "Deloitte"),
    ("Karel Doležal", "Researcher", "Charles University"),
    ("Laura Kelly", "Journalist", "The Brussels Ledger"),
]


def contacts(items: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [{"name": n, "title": t, "employer": e} for n, t, e in items]


def build_profiles(out: Path, ids: Ids) -> dict[str, Any]:
    profiles: list[tuple[dict[str, Any], dict[str, Any]]] = []

    sophie = {
        "id": "prof-sophie-lin",
        "platform": "linkedin",
        "name": "Sophie Lin",
        "headline": "Senior Research Manager at EuroAsia Policy Insight | Europe–Asia relations",
        "location": "London, England, United Kingdom",
        "created_at": "2024-02-11",
        "connections": 312,
        "followers": 1180,
        "photo": {
            "present": True,
            "notes": "studio-style portrait, very symmetrical face, blurred background; "
            "reverse image search finds no other copy",
        },
        "experience": [
            {"title": "Senior Research Manager", **EAP, "start": "2023-09", "end": None},
            {
                "title": "Research Associate",
                "company": "Global Strategy Consulting",
                "company_domain": None,
                "company_followers": None,
                "company_employees_on_platform": None,
                "start": "2020-01",
                "end": "2023-08",
            },
        ],
        "education": [
            {
                "school": "University of Hong Kong",
                "degree": "MA International Relations",
                "end": "2019",
            }
        ],
        "contacts_sample": contacts(GOV_CONTACTS[:10]),
        "messages": [
            {
                "sent_at": "2024-05-06T09:12:00+02:00",
                "direction": "in",
                "text": "Dear Jakub, I came across your profile and was really impressed by your experience in foreign "
                "and security policy. I work for EuroAsia Policy Insight, a London-based consultancy advising "
                "clients in Asia on European policy. We are looking for experienced professionals to write short "
                "reports (3,000–5,000 words) on developments in Central Europe, with an honorarium of "
                "EUR 1,500–3,000 per report. Would you be interested?",
            },
            {
                "sent_at": "2024-05-06T18:40:00+02:00",
                "direction": "out",
                "text": "Thank you. What kind of topics would the reports cover?",
            },
            {
                "sent_at": "2024-05-07T08:55:00+02:00",
                "direction": "in",
                "text": "Mainly the views of Czech parliamentarians on China, Taiwan and the EU elections – nothing "
                "confidential, just your own insights. We would also be glad to invite you to our annual "
                "Europe–Asia Dialogue seminar in Shenzhen this autumn, with all travel and accommodation "
                "covered. May we continue on WhatsApp or WeChat? It is easier for me to share details there.",
            },
        ],
    }
    daniel = {
        "id": "prof-daniel-wu",
        "platform": "linkedin",
        "name": "Daniel Wu",
        "headline": "Project Director | EuroAsia Policy Insight | Geopolitics, trade, security",
        "location": "London, United Kingdom",
        "created_at": "2024-01-28",
        "connections": 287,
        "followers": 960,
        "photo": {
            "present": True,
            "notes": "headshot, same lighting and background style as Sophie Lin's photo",
        },
        "experience": [{"title": "Project Director", **EAP, "start": "2023-06", "end": None}],
        "contacts_sample": contacts(GOV_CONTACTS[2:12]),
        "messages": [
            {
                "sent_at": "2024-05-13T10:03:00+02:00",
                "direction": "in",
                "text": "Dear Marek, I came across your profile and was very impressed by your experience in defence "
                "policy. I work for EuroAsia Policy Insight, a London-based consultancy advising clients in Asia "
                "on European policy. We are looking for experienced professionals to write short reports "
                "(3000-5000 words) on developments in Central Europe, with an honorarium of 1,500 to 3,000 EUR "
                "per report. Would you be interested?",
            },
            {
                "sent_at": "2024-05-15T07:30:00+02:00",
                "direction": "in",
                "text": "We would also be happy to invite you to our Europe-Asia Dialogue seminar in Shenzhen this "
                "autumn, all expenses covered. Could we continue on WeChat or WhatsApp?",
            },
        ],
    }
    grace = {
        "id": "prof-grace-zhou",
        "platform": "linkedin",
        "name": "Grace Zhou",
        "headline": "Head of Talent Partnerships at EuroAsia Policy Insight",
        "location": "Hong Kong SAR",
        "created_at": "2024-03-19",
        "connections": 198,
        "followers": 640,
        "photo": {
            "present": True,
            "notes": "AI-generated-looking portrait (asymmetric earrings, warped background)",
        },
        "experience": [
            {"title": "Head of Talent Partnerships", **EAP, "start": "2024-01", "end": None}
        ],
        "education": [{"school": "London School of Economics", "degree": "MSc", "end": "2018"}],
        "contacts_sample": contacts([GOV_CONTACTS[i] for i in (0, 1, 3, 5, 7, 8, 9, 11)]),
        "messages": [
            {
                "sent_at": "2024-05-20T11:20:00+02:00",
                "direction": "in",
                "text": "Dear Claire, I came across your profile and I was really impressed by your experience in "
                "European affairs. EuroAsia Policy Insight is looking for experienced professionals to write "
                "short reports (3,000-5,000 words) on developments in Europe, with an honorarium of "
                "EUR 1,500-3,000 per report. We would also be glad to invite you to our Europe–Asia Dialogue "
                "seminar in Shenzhen, all travel and accommodation covered. May we continue on WhatsApp?",
            },
        ],
    }
    mark = {
        "id": "prof-mark-peterson",
        "platform": "linkedin",
        "name": "Mark Peterson",
        "headline": "Strategic Advisor | Global Horizon Advisory | Defence & emerging technology",
        "location": "Singapore",
        "created_at": "2024-01-09",
        "connections": 501,
        "followers": 2310,
        "experience": [
            {
                "title": "Strategic Advisor",
                "company": "Global Horizon Advisory Pte Ltd",
                "company_domain": "globalhorizon-advisory.example",
                "company_followers": 3120,
                "company_employees_on_platform": 1,
                "start": "2023-11",
                "end": None,
            },
        ],
        "education": [
            {"school": "National University of Singapore", "degree": "MBA", "end": "2012"}
        ],
        "contacts_sample": contacts([GOV_CONTACTS[i] for i in (3, 5, 9, 10, 11, 4)]),
        "messages": [
            {
                "sent_at": "2024-05-09T14:00:00+02:00",
                "direction": "in",
                "text": "Hello Ondřej, your background in military logistics is exactly what one of our clients is "
                "looking for. They would pay well for a few short consultations on NATO supply chains in Central "
                "Europe – open-source views only. We can also cover your trip to a closed workshop in Dubai in "
                "July. For privacy, let's continue on Signal: +65 8000 1234.",
            },
        ],
    }
    lucia = {
        "id": "prof-lucia-varga",
        "platform": "linkedin",
        "name": "Lucia Varga",
        "headline": "Talent Partner | Meridian Policy Partners | Expert network for public policy",
        "location": "Vienna, Austria",
        "created_at": "2023-06-14",
        "connections": 480,
        "followers": 620,
        "photo": {"present": True, "notes": "ordinary photo"},
        "experience": [
            {
                "title": "Talent Partner",
                "company": "Meridian Policy Partners",
                "company_domain": "meridian-pp.example",
                "company_followers": 2100,
                "company_employees_on_platform": 3,
                "start": "2023-05",
                "end": None,
            },
            {
                "title": "Recruitment Consultant",
                "company": "Hays",
                "company_domain": "hays.com",
                "company_followers": 1500000,
                "company_employees_on_platform": 12000,
                "start": "2019-02",
                "end": "2023-04",
            },
        ],
        "education": [
            {"school": "Wirtschaftsuniversität Wien", "degree": "BSc Business", "end": "2018"}
        ],
        "contacts_sample": contacts(
            [GOV_CONTACTS[0], GOV_CONTACTS[4], GOV_CONTACTS[8], *MIXED_CONTACTS[:5]]
        ),
        "messages": [
            {
                "sent_at": "2024-05-16T09:45:00+02:00",
                "direction": "in",
                "text": "Hi Jakub, we run an expert network for investors. A client would like a paid one-hour call "
                "(EUR 400) on the outlook for Czech politics after the EU elections. Interested? Happy to set "
                "it up by email.",
            },
        ],
    }
    # genuine profiles
    pavel = {
        "id": "prof-pavel-stary",
        "platform": "linkedin",
        "name": "doc. Pavel Starý, Ph.D.",
        "headline": "Associate Professor of Chinese Studies, Charles University",
        "location": "Prague, Czechia",
        "created_at": "2011-04-02",
        "connections": 1840,
        "followers": 2650,
        "photo": {"present": True, "notes": "conference photo"},
        "experience": [
            {
                "title": "Associate Professor",
                "company": "Charles University",
                "company_domain": "cuni.cz",
                "company_followers": 98000,
                "company_employees_on_platform": 6400,
                "start": "2015-09",
                "end": None,
            },
            {
                "title": "Assistant Professor",
                "company": "Palacký University Olomouc",
                "company_domain": "upol.cz",
                "company_followers": 41000,
                "company_employees_on_platform": 2300,
                "start": "2009-09",
                "end": "2015-08",
            },
        ],
        "education": [
            {"school": "Charles University", "degree": "Ph.D. Sinology", "end": "2009"},
            {"school": "Peking University", "degree": "Exchange", "end": "2006"},
        ],
        "contacts_sample": contacts([*MIXED_CONTACTS[:8], GOV_CONTACTS[11]]),
        "messages": [
            {
                "sent_at": "2024-05-10T13:00:00+02:00",
                "direction": "in",
                "text": "Dear colleague, our department is organising a public lecture on Chinese foreign policy on "
                "6 June. The programme is attached to the faculty website. Best regards, Pavel Starý",
            },
        ],
    }
    eva = {
        "id": "prof-eva-markova",
        "platform": "linkedin",
        "name": "Eva Marková",
        "headline": "Foreign desk editor at Pražský deník",
        "location": "Prague, Czechia",
        "created_at": "2012-09-17",
        "connections": 2300,
        "followers": 3900,
        "photo": {"present": True, "notes": "newsroom photo"},
        "experience": [
            {
                "title": "Foreign Desk Editor",
                "company": "Pražský deník",
                "company_domain": "prazsky-denik.example",
                "company_followers": 18500,
                "company_employees_on_platform": 210,
                "start": "2017-01",
                "end": None,
            },
            {
                "title": "Reporter",
                "company": "Czech News Agency",
                "company_domain": "ctk.cz",
                "company_followers": 22000,
                "company_employees_on_platform": 380,
                "start": "2010-03",
                "end": "2016-12",
            },
        ],
        "education": [{"school": "Charles University", "degree": "MA Journalism", "end": "2010"}],
        "contacts_sample": contacts([*MIXED_CONTACTS, GOV_CONTACTS[2], GOV_CONTACTS[7]]),
    }
    thomas = {
        "id": "prof-thomas-becker",
        "platform": "linkedin",
        "name": "Thomas Becker",
        "headline": "Partner at Becker & Lang Executive Search | Public affairs & government relations",
        "location": "Munich, Bavaria, Germany",
        "created_at": "2009-03-30",
        "connections": 500,
        "followers": 7400,
        "photo": {
            "present": True,
            "notes": "professional headshot, consistent with older company website photos",
        },
        "experience": [
            {
                "title": "Partner",
                "company": "Becker & Lang Executive Search",
                "company_domain": "becker-lang.example",
                "company_followers": 5200,
                "company_employees_on_platform": 38,
                "start": "2014-01",
                "end": None,
            },
            {
                "title": "Senior Consultant",
                "company": "Egon Zehnder",
                "company_domain": "egonzehnder.com",
                "company_followers": 260000,
                "company_employees_on_platform": 2900,
                "start": "2006-05",
                "end": "2013-12",
            },
        ],
        "education": [
            {
                "school": "Ludwig-Maximilians-Universität München",
                "degree": "Diplom-Kaufmann",
                "end": "2005",
            }
        ],
        "contacts_sample": contacts([*MIXED_CONTACTS[:6], GOV_CONTACTS[4], GOV_CONTACTS[8]]),
        "messages": [
            {
                "sent_at": "2024-05-22T16:10:00+02:00",
                "direction": "in",
                "text": "Dear Ms Dubois, we are retained by a European industry association to find a Director of "
                "Public Affairs in Brussels. Would you be open to a confidential conversation? The role "
                "description is on our website; happy to talk by phone or at our Brussels office.",
            },
        ],
    }
    katerina = {
        "id": "prof-katerina-urbanova",
        "platform": "linkedin",
        "name": "Kateřina Urbanová",
        "headline": "Senior Research Fellow, Prague Centre for Security Studies | hybrid threats",
        "location": "Prague, Czechia",
        "created_at": "2013-01-21",
        "connections": 3100,
        "followers": 5200,
        "photo": {"present": True, "notes": "panel discussion photo"},
        "experience": [
            {
                "title": "Senior Research Fellow",
                "company": "Prague Centre for Security Studies",
                "company_domain": "pcss.example",
                "company_followers": 6900,
                "company_employees_on_platform": 24,
                "start": "2018-02",
                "end": None,
            },
            {
                "title": "Analyst",
                "company": "Ministry of the Interior of the Czech Republic",
                "company_domain": "mvcr.cz",
                "company_followers": 15000,
                "company_employees_on_platform": 900,
                "start": "2013-03",
                "end": "2018-01",
            },
        ],
        "education": [
            {"school": "Masaryk University", "degree": "Ph.D. Security Studies", "end": "2012"}
        ],
        "contacts_sample": contacts([*GOV_CONTACTS[:9], MIXED_CONTACTS[3], MIXED_CONTACTS[8]]),
        "messages": [
            {
                "sent_at": "2024-05-30T09:05:00+02:00",
                "direction": "in",
                "text": "Dear Mr Šimánek, we published our study on influence operations ahead of the EP elections "
                "today. I would be glad to brief your committee staff. Kind regards, Kateřina Urbanová",
            },
        ],
    }
    li = {
        "id": "prof-li-wei",
        "platform": "linkedin",
        "name": "Dr. Li Wei",
        "headline": "Lecturer in Chinese Politics, Universität Hamburg",
        "location": "Hamburg, Germany",
        "created_at": "2014-10-05",
        "connections": 920,
        "followers": 1400,
        "photo": {"present": True, "notes": "faculty page photo (matches university website)"},
        "experience": [
            {
                "title": "Lecturer",
                "company": "Universität Hamburg",
                "company_domain": "uni-hamburg.de",
                "company_followers": 120000,
                "company_employees_on_platform": 7800,
                "start": "2019-10",
                "end": None,
            },
            {
                "title": "Postdoctoral Researcher",
                "company": "Leiden University",
                "company_domain": "universiteitleiden.nl",
                "company_followers": 210000,
                "company_employees_on_platform": 9100,
                "start": "2016-09",
                "end": "2019-09",
            },
        ],
        "education": [
            {"school": "University of Oxford", "degree": "DPhil Politics", "end": "2016"}
        ],
        "contacts_sample": contacts([*MIXED_CONTACTS[2:9], GOV_CONTACTS[4]]),
        "messages": [
            {
                "sent_at": "2024-05-17T12:00:00+02:00",
                "direction": "in",
                "text": "Dear Professor Starý, we are organising an academic workshop on EU–China relations at Fudan "
                "University in Shanghai in October. The conference covers economy-class travel and hotel for "
                "speakers, as is usual. The call for papers and the programme committee are on the workshop "
                "website; please reply to my university address.",
            },
        ],
    }
    minimal = {"id": "prof-jan-novotny", "name": "Jan Novotný", "headline": "Student"}

    profiles = [
        (
            sophie,
            {
                "verdict": "high",
                "cluster": "eap",
                "traits": [
                    "account_created_recently:2024-02-11",
                    "company_followers_vs_employees:4870/2",
                    "contacts_concentrated:government/parliament/defence",
                    "flattery_first_message",
                    "paid_reports_offer",
                    "all_expenses_trip:Shenzhen",
                    "move_to_private_channel:WhatsApp/WeChat",
                    "asks_for_political_insights_on_China/Taiwan",
                    "photo_suspect",
                ],
            },
        ),
        (
            daniel,
            {
                "verdict": "high",
                "cluster": "eap",
                "traits": [
                    "account_created_recently:2024-01-28",
                    "company_followers_vs_employees:4870/2",
                    "contacts_concentrated:government/defence",
                    "near_duplicate_message_template",
                    "paid_reports_offer",
                    "all_expenses_trip:Shenzhen",
                    "move_to_private_channel:WeChat/WhatsApp",
                    "missing:education",
                ],
            },
        ),
        (
            grace,
            {
                "verdict": "high",
                "cluster": "eap",
                "traits": [
                    "account_created_recently:2024-03-19",
                    "company_followers_vs_employees:4870/2",
                    "contacts_concentrated:government/parliament",
                    "near_duplicate_message_template",
                    "paid_reports_offer",
                    "all_expenses_trip:Shenzhen",
                    "move_to_private_channel:WhatsApp",
                    "photo_suspect",
                ],
            },
        ),
        (
            mark,
            {
                "verdict": "high",
                "cluster": None,
                "traits": [
                    "account_created_recently:2024-01-09",
                    "company_followers_vs_employees:3120/1",
                    "contacts_concentrated:defence/government",
                    "paid_consultations",
                    "all_expenses_trip:Dubai (third country)",
                    "move_to_private_channel:Signal",
                    "missing:photo",
                ],
            },
        ),
        (
            lucia,
            {
                "verdict": "medium",
                "acceptable": ["medium", "low"],
                "cluster": None,
                "traits": [
                    "small_company:2100 followers/3 employees",
                    "paid_call_offer (expert network, common and often legitimate)",
                    "long_prior_career",
                    "no_trip",
                    "no_channel_switch",
                ],
            },
        ),
        (
            pavel,
            {
                "verdict": "low",
                "cluster": None,
                "traits": ["long_history", "institutional_employer", "diverse_contacts"],
            },
        ),
        (
            eva,
            {
                "verdict": "low",
                "cluster": None,
                "traits": ["long_history", "journalist", "missing:messages"],
            },
        ),
        (
            thomas,
            {
                "verdict": "low",
                "cluster": None,
                "traits": ["long_history", "established_firm", "ordinary_job_approach"],
            },
        ),
        (
            katerina,
            {
                "verdict": "low",
                "cluster": None,
                "traits": [
                    "long_history",
                    "contacts_concentrated:government (genuine think-tank confounder)",
                ],
            },
        ),
        (
            li,
            {
                "verdict": "low",
                "acceptable": ["low", "medium"],
                "cluster": None,
                "traits": [
                    "long_history",
                    "institutional_employer",
                    "trip_to_China covered by a conference (confounder)",
                    "no_channel_switch",
                    "no_paid_reports",
                ],
            },
        ),
        (minimal, {"verdict": "low", "cluster": None, "traits": ["almost_every_key_missing"]}),
    ]
    truth: dict[str, Any] = {}
    for prof, verdict in profiles:
        ids.claim(prof["id"])
        name = f"{prof['id'].removeprefix('prof-')}.json"
        write_json(out / "profiles" / name, prof)
        truth[name] = {"id": prof["id"], **verdict}
    return {
        "files": truth,
        "shared_company_cluster": {
            "company": EAP["company"],
            "company_domain": EAP["company_domain"],
            "profile_ids": ["prof-sophie-lin", "prof-daniel-wu", "prof-grace-zhou"],
            "shared": [
                "company",
                "near-duplicate first-message template",
                "Shenzhen seminar offer",
                "report honorarium EUR 1,500-3,000",
            ],
            "related_mail": "mail/14-seminar-invitation-china.eml",
        },
    }


# ---------------------------------------------------------------------------- ground truth

WATCH_PATTERNS = {
    "Klára Menšíková": r"men[sš][ií]kov|@kmensikova",
    "Vojtěch Šimánek": r"[sš]im[aá]n(e)?k",
    "Lenka Dobešová": r"dobe[sš]ov",
    "Radim Kovanda": r"kovand",
    "Jasný směr": r"jasn\w* sm[eě]r|jasnysmer|jasny-smer|jasnýsměr",
    "European Parliament election 2024": r"#?(ep2024|volbyep2024|eurovolby|eurovoľby|euelections2024|europawahl|"
    r"européennes|eurowybory|elezioni europee)|volb\w* do (ep|evropsk)",
}


def social_truth(s: Social) -> dict[str, Any]:
    trolls = s.trolls_tw + s.trolls_fb + s.trolls_tg
    troll_ids = {a["id"] for a in trolls}
    troll_posts = [p for p in s.posts if p["account_id"] in troll_ids]
    smear_tags = sorted({t for b in s.bursts for p in b["posts"] for t in p["hashtags"]})
    new_default = [
        a["id"] for a in s.organic if a["created"].startswith("2024") and a["platform"] == "twitter"
    ]
    return {
        "troll_network": {
            "account_ids": [a["id"] for a in trolls],
            "accounts": [
                {
                    "id": a["id"],
                    "handle": a["handle"],
                    "platform": a["platform"],
                    "created": a["created"],
                }
                for a in trolls
            ],
            "post_count": len(troll_posts),
            "smear_links": [
                s.articles["a-pz-20240516-mensikova"]["url"],
                s.articles["a-sd-20240517-mensikova"]["url"],
                s.articles["a-pz-20240530-debata"]["url"],
                s.smear_video,
            ],
            "link_note": "shared with varying utm_* parameters (and fbclid on Facebook); normalise before comparing",
            "hashtags": smear_tags,
            "bursts": [
                {
                    "start": iso_local(b["t0"]),
                    "platform": b["platform"],
                    "lang": b["lang"],
                    "link": b["link"],
                    "utm_campaign": b["campaign"],
                    "template": b["template"],
                    "account_ids": sorted({p["account_id"] for p in b["posts"]}),
                    "post_ids": [p["id"] for p in b["posts"]],
                }
                for b in s.bursts
            ],
            "amplified_state_posts": [
                {
                    "post_id": a["post"]["id"],
                    "account": a["post"]["account_name"],
                    "shared_by": sorted({p["account_id"] for p in a["shares"]}),
                    "share_post_ids": [p["id"] for p in a["shares"]],
                }
                for a in s.amplified
            ],
            "reply_post_ids_to_candidate": [p["id"] for p in s.troll_replies],
        },
        "organic_confounders": {
            "viral_bursts": [
                {
                    "name": v["name"],
                    "start": iso_local(v["start"]),
                    "end": iso_local(v["end"]),
                    "links": v["links"],
                    "seed_post_id": v["seed"]["id"] if v["seed"] else None,
                    "account_ids": sorted({p["account_id"] for p in v["posts"]}),
                    "post_count": len(v["posts"]),
                }
                for v in s.viral_bursts
            ],
            "hyperactive_accounts": {
                k: {
                    "id": a["id"],
                    "handle": a["handle"],
                    "platform": a["platform"],
                    "posts": sum(1 for p in s.posts if p["_acct"] is a),
                }
                for k, a in s.hyper.items()
            },
            "outlet_and_factcheck_account_ids": [
                a["id"] for a in [*s.outlets.values(), s.factcheck, s.journalist]
            ],
            "new_accounts_with_default_style_handles": new_default,
            "note": "none of these accounts is coordinated; a coordination detector must not flag them",
        },
        "state_and_diplomat_accounts": [
            {"id": a["id"], "handle": a["handle"], "source": a["source"], "platform": a["platform"]}
            for a in (s.embassy, s.spox, s.cgtn, s.crifb)
        ],
        "candidate_accounts": {"candidate": s.candidate["id"], "party": s.party["id"]},
        "organic_account_count": len(s.organic),
    }


def laundering_truth(articles: list[dict[str, Any]]) -> dict[str, Any]:
    by_id = {a["id"]: a for a in articles}
    pairs = []
    for a in sorted((a for a in articles if a.get("role") == "copy"), key=lambda a: a["epoch"]):
        o = by_id[a["origin"]]
        lo, lc = article_location(o), article_location(a)
        pairs.append(
            {
                "origin_id": lo["id"],
                "copy_id": lc["id"],
                "attributed": a["attributed"],
                "origin_lang": o["lang"],
                "copy_lang": a["lang"],
                "mode": a["mode"],
                "topic": a["topic"],
                "origin_source": o["source"],
                "copy_source": a["source"],
                "lag_seconds": a["epoch"] - o["epoch"],
                "origin_file": lo["file"],
                "copy_file": lc["file"],
                "origin_url": o["url"],
                "copy_url": a["url"],
                "origin_template": o["id"],
                "copy_template": a["id"],
            }
        )
    hard = [
        {
            "id": article_location(a)["id"],
            "file": article_location(a)["file"],
            "source": a["source"],
            "lang": a["lang"],
            "topic": a["topic"],
            "related_origin_ids": [article_location(by_id[r])["id"] for r in a["related"]],
        }
        for a in articles
        if a.get("role") == "independent"
    ]
    return {
        "pairs": pairs,
        "hard_negatives": hard,
        "hard_negative_ids": [h["id"] for h in hard],
        "origin_ids": [article_location(a)["id"] for a in articles if a.get("role") == "origin"],
        "unrelated_ids": [
            article_location(a)["id"] for a in articles if a.get("role") == "unrelated"
        ],
        "proxy_candidates": ["pravdive-zpravy", "slovo-dnes", "libre-regard", "wahrheit-heute"],
        "note": "feed and page items are identified by their URL (guid / Atom id / canonical link); "
        "mode: translation = faithful translation, verbatim = same language and text, trimmed = "
        "paragraphs dropped, embedded = inside a longer local article",
    }


def watchlist_truth(
    records: list[dict[str, Any]], articles: list[dict[str, Any]], mail: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, pattern in WATCH_PATTERNS.items():
        rx = re.compile(pattern, re.I)
        posts = [
            r["id"]
            for r in records
            if rx.search(r["text"]) or any(rx.search(h) for h in r["hashtags"])
        ]
        arts = [
            article_location(a)["id"]
            for a in articles
            if rx.search(a["title"]) or any(rx.search(p) for p in a["paragraphs"])
        ]
        out[name] = {
            "post_ids_count": len(posts),
            "article_ids": arts,
            "post_ids_sample": posts[:20],
        }
    out["Klára Menšíková"]["mail_files"] = ["13-genuine-journalist-request.eml"]
    out["Vojtěch Šimánek"]["mail_files"] = [
        f for f, t in mail["files"].items() if t["recipient"] == "simanekv@psp.cz"
    ]
    out["Lenka Dobešová"]["mail_files"] = ["06-spoofed-psp-lnk-in-zip.eml"]
    out["Radim Kovanda"]["mail_files"] = [
        f for f, t in mail["files"].items() if t["recipient"] == "radim.kovanda@europarl.europa.eu"
    ]
    out["europarl.europa.eu"] = {
        "lookalikes_in_mail": ["europarl-europa.eu", f"{HOMOGLYPH} ({HOMOGLYPH_ACE})"],
        "mail_files": [
            "03-lookalike-domain-verify-account.eml",
            "04-homoglyph-punycode-signin.eml",
        ],
    }
    out["psp.cz"] = {
        "spoofed_in": ["06-spoofed-psp-lnk-in-zip.eml"],
        "subdomain_trick_in_mbox": "psp.cz.login-portal.example",
    }
    out["jasny-smer.example"] = {
        "mail_files": ["13-genuine-journalist-request.eml"],
        "note": "linked from the candidate's and the party's posts",
    }
    return out


# ---------------------------------------------------------------------------- main


def generate(out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    for rel in GENERATED:
        path = out / rel
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    ids = Ids()
    snow = Snowflakes(ids)
    banks = load_banks()
    articles = load_articles()
    by_id = {a["id"]: a for a in articles}
    build_articles(out, ids, articles)
    social = build_social(out, ids, snow, banks, by_id)
    telegram = build_telegram_export(out, social, by_id)
    for m in range(1, telegram["messages"] + 1):
        ids.claim(f"{telegram['chat_id']}:{m}")
    qut = build_qut(out, social, snow, by_id)
    twitter_io = build_twitter_io(out, social, snow, by_id)
    mail = build_mail(out, ids)
    profiles = build_profiles(out, ids)

    write_csv(
        out / "registry" / "sources.csv",
        REGISTRY_HEADER,
        [[s[k] for k in REGISTRY_HEADER] for s in SOURCES],
    )
    write_csv(out / "watchlist" / "watchlist.csv", WATCHLIST_HEADER, WATCHLIST)

    used = {r["source"] for r in social.records if r.get("source")} | {
        a["source"] for a in articles
    }
    missing = sorted(used - set(SOURCE_BY_KEY))
    if missing:
        raise SystemExit(f"source keys missing from the registry: {missing}")
    if len(social.records) < 5000:
        raise SystemExit(f"only {len(social.records)} posts")

    truth = {
        "about": "Ground truth for the fimiwatch demo corpus; see README.md. Everything here is synthetic.",
        "seed": SEED,
        "window": {"start": WINDOW_START.isoformat(), "end": WINDOW_END.isoformat()},
        "candidate": {**CANDIDATE, "twitter_account_id": social.candidate["id"]},
        "counts": {
            "posts": len(social.records),
            "articles_jsonl": sum(1 for a in articles if a["channel"] == "jsonl"),
            "rss_items": sum(1 for a in articles if a["channel"] == "rss"),
            "atom_entries": sum(1 for a in articles if a["channel"] == "atom"),
            "html_pages": sum(1 for a in articles if a["channel"] == "page"),
            "telegram_messages": telegram["messages"],
            "qut_rows": qut["rows"],
            "twitter_io_rows": twitter_io["rows"],
            "eml_files": len(mail["files"]),
            "mbox_messages": len(mail["mbox"]["messages"]),
            "profiles": len(profiles["files"]),
            "sources": len(SOURCES),
            "watchlist_rows": len(WATCHLIST),
        },
        "coordination": {
            **social_truth(social),
            "telegram_export": telegram,
            "qut_sample": qut,
            "twitter_io_sample": twitter_io,
        },
        "laundering": laundering_truth(articles),
        "mail": mail,
        "profiles": profiles,
        "watchlist_hits": watchlist_truth(social.records, articles, mail),
        "sources": {
            "suggest_proxy": ["pravdive-zpravy", "slovo-dnes", "libre-regard", "wahrheit-heute"],
            "state_media": [s["source"] for s in SOURCES if s["affiliation"] == "state_media"],
            "diplomat": [s["source"] for s in SOURCES if s["affiliation"] == "diplomat"],
            "independent": [s["source"] for s in SOURCES if s["affiliation"] == "independent"],
        },
    }
    write_json(out / "truth.json", truth)
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="output directory (default: next to this script)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary directory and compare with the files in --out",
    )
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            diffs = []
            for rel in GENERATED:
                a, b = Path(tmp) / rel, args.out / rel
                files = [a] if a.is_file() else sorted(p for p in a.rglob("*") if p.is_file())
                for f in files:
                    other = b / f.relative_to(a) if a.is_dir() else b
                    if not other.exists() or not filecmp.cmp(f, other, shallow=False):
                        diffs.append(str(other.relative_to(args.out)))
                if b.is_dir():
                    for f in sorted(p for p in b.rglob("*") if p.is_file()):
                        if not (a / f.relative_to(b)).exists():
                            diffs.append(str(f.relative_to(args.out)) + " (stale)")
            if diffs:
                print("out of date:\n  " + "\n  ".join(diffs), file=sys.stderr)
                return 1
            print("demo corpus is up to date")
            return 0
    truth = generate(args.out)
    for key, value in truth["counts"].items():
        print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
