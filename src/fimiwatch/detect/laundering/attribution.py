"""Does a copy credit its origin? Named outlet, domain or URL, in any language.

A laundered article is one that reuses state-media content *without* saying so; a copy that
ends "Zdroj: CGTN" or links the original is reuse with attribution, which analysts weigh
differently. The check looks for the origin outlet's names (the registry's name, a curated list
of how the outlet is credited in European languages, ``attribution_names.json``), its domain
or the origin's URL, anywhere in the copy's text or title. Credit lines ("Zdroj:", "Source :",
"Quelle:", "Šaltinis:", "Źródło:"…) are reported with the evidence when present.

Czech, Slovak, Polish, Lithuanian and German decline names: "podle Čínského rozhlasu",
"pasak Kinijos radijo", "laut Chinesischem Zentralfernsehen". So each word of five letters or
more matches with any of the case endings of those languages (``ENDINGS``) in place of its
own: a closed list, so that "Radio Chiny" matches "Radia Chiny" but not "radical Chinese".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

CREDIT_WORDS = (
    "zdroj", "source", "sources", "quelle", "quellen", "šaltinis", "šaltiniai", "źródło",
    "forrás", "fonte", "fuente", "bron", "kilde", "källa", "lähde", "allikas", "avots", "izvor",
    "извор", "източник", "источник", "джерело", "sursa", "πηγή", "via", "foto",
    "来源", "來源", "出典",
)  # fmt: skip
CREDIT_LINE = re.compile(
    r"(?im)(?:^|[\s(\[])(" + "|".join(map(re.escape, CREDIT_WORDS)) + r")\s*[:：]\s*([^\n]{1,120})"
)


@dataclass(frozen=True)
class Attribution:
    attributed: bool
    named_as: str | None
    """The name, domain or URL found in the copy."""
    credit_line: str | None
    """The copy's credit line ("Zdroj: …"), if it has one."""


@cache
def _family_names() -> dict[str, tuple[str, ...]]:
    raw = json.loads(
        resources.files("fimiwatch.detect.laundering")
        .joinpath("attribution_names.json")
        .read_text()
    )
    return {k: tuple(v) for k, v in raw.items() if not k.startswith("_")}


QUALIFIERS = frozenset({
    "english", "chinese", "russian", "french", "français", "german", "deutsch", "spanish",
    "español", "arabic", "persian", "farsi", "czech", "slovak", "polish", "hungarian",
    "latvian", "lithuanian", "estonian", "romanian", "serbian", "ukrainian", "italian",
    "china", "russia", "iran", "latvia", "lithuania", "estonia", "moldova", "serbia",
    "youtube", "facebook", "twitter", "telegram", "tiktok", "instagram", "vkontakte", "weibo",
})  # fmt: skip
"""Words that qualify a registry name in brackets — "Xinhua News Agency (English)", "CGTN
(YouTube)" — and are no name of the outlet: a copy that says "English" credits nobody."""


def outlet_names(source: str, name: str | None, domain: str | None) -> tuple[str, ...]:
    """Every name under which the outlet ``source`` may be credited (longest first)."""
    names = {
        n
        for family, ns in _family_names().items()
        if source == family or source.startswith(f"{family}-")
        for n in ns
    }
    if name:
        names.add(name)
        parts = (part.strip() for part in re.split(r"[()（）,]", name))
        names.update(p for p in parts if len(p) > 2 and p.casefold() not in QUALIFIERS)
    if domain:
        names.add(domain)
    return tuple(sorted(names, key=lambda n: (-len(n), n)))


SHORT_NAME = 5
"""Names shorter than this (CRI, RT, TASS, CGTN) match in capitals only: "cri" is French for
a shout, "rt" a common abbreviation."""

ENDINGS = tuple(sorted({
    # Czech and Slovak
    "a", "e", "i", "o", "u", "y", "á", "é", "í", "ý", "ě", "ou", "em", "om", "ám", "ách", "ami",
    "ov", "ovi", "ej", "ie", "ia", "iu", "ího", "ímu", "ím", "ích", "ími", "ého", "ému", "ém",
    "ým", "ých", "ými", "eho", "emu",
    # Polish
    "ą", "ę", "ego", "ym", "ych", "ymi", "ów", "ach",
    # Lithuanian
    "as", "is", "ys", "us", "os", "ai", "ui", "ės", "ė", "ų", "į", "io", "iui", "ių", "ams", "oje",
    "uose", "ame",
    # German
    "en", "er", "es", "s", "n",
}, key=lambda e: (-len(e), e)))  # fmt: skip
"""Case endings a declined outlet name may take, longest first."""
_ENDING = "(?:" + "|".join(ENDINGS) + ")?"
MIN_STEM = 4


@cache
def _patterns(names: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """Word-bounded alternations (CJK names, which have no word boundaries, as substrings)."""
    patterns = []
    for group, flags in (
        ([n for n in names if len(n) < SHORT_NAME], 0),
        ([n for n in names if len(n) >= SHORT_NAME], re.IGNORECASE),
    ):
        if group:
            alternatives = "|".join(_declined(n) if flags else re.escape(n) for n in group)
            patterns.append(re.compile(rf"(?<![\w.])(?:{alternatives})(?![\w])", flags))
    cjk = [n for n in names if re.search(r"[\u3000-\u9fff]", n)]
    if cjk:
        patterns.append(re.compile("|".join(re.escape(n) for n in cjk)))
    return tuple(patterns)


def _declined(name: str) -> str:
    """A pattern for ``name`` in which each word of five letters or more may carry another
    case ending (``ENDINGS``) than its own; domains and URLs stay exact."""
    if "." in name or "/" in name:
        return re.escape(name)
    parts = re.split(r"([^\W\d_]+)", name)  # odd items are the words
    return "".join(
        _declined_word(part) if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )


def _declined_word(word: str) -> str:
    if len(word) <= MIN_STEM:
        return re.escape(word)
    own = next(
        (e for e in ENDINGS if word.lower().endswith(e) and len(word) - len(e) >= MIN_STEM), ""
    )
    stems = {word, word[: len(word) - len(own)]}
    return f"(?:{'|'.join(map(re.escape, sorted(stems, key=len, reverse=True)))})" + _ENDING


def check(copy_text: str, names: tuple[str, ...], origin_url: str | None) -> Attribution:
    """Whether ``copy_text`` credits the outlet known by ``names`` (or links ``origin_url``)."""
    credit = CREDIT_LINE.search(copy_text)
    credit_line = f"{credit.group(1)}: {credit.group(2).strip()}" if credit else None
    if origin_url and _url_core(origin_url) in copy_text:
        return Attribution(True, origin_url, credit_line)
    for pattern in _patterns(names):
        found = pattern.search(copy_text)
        if found:
            return Attribution(True, found.group(0), credit_line)
    return Attribution(False, None, credit_line)


def _url_core(url: str) -> str:
    """The URL without scheme and ``www.``: a copy may link it either way."""
    return re.sub(r"^[a-z]+://(www\.)?", "", url.strip(), flags=re.IGNORECASE).rstrip("/")
