"""Domains a mail is judged against, and the ways a hostile domain imitates one.

Reference domains: newsrooms, parliaments, institutions and common sign-in services shipped in
``data/reference_domains.csv``, plus the domains of the store's watchlist. A host *belongs* to
a reference domain when it is that domain or a subdomain of it. It *imitates* one when, not
belonging to it, it

- decodes (punycode) and folds (confusable letters and digits: Cyrillic ``а``, ``г``, ``1`` for
  ``l``, ``rn`` for ``m``…) to a name that contains the reference's distinctive label
  (``europaг1.eu`` → ``europarl``), or
- spells the reference with its dots turned into hyphens or inside another domain
  (``europarl-europa.eu``, ``psp.cz.login-portal.example``), or
- is within two edits of it (``reuters.corn``, ``polltico.eu``).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

from rapidfuzz.distance import Levenshtein

CONFUSABLES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ԁ": "d", "ɡ": "g", "г": "r", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h", "ѕ": "s",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "ε": "e",
    "0": "o", "1": "l", "3": "e", "5": "s", "ı": "i", "ł": "l",
})  # fmt: skip
MAX_EDITS = 2
MIN_LABEL = 4
"""Distinctive labels shorter than this (``ep``, ``ft``) are not searched for inside hosts."""


@dataclass(frozen=True)
class Reference:
    name: str
    domain: str
    kind: str

    @property
    def label(self) -> str:
        """The distinctive label: ``europarl`` of europarl.europa.eu, ``psp`` of psp.cz."""
        return self.domain.split(".")[0]


@cache
def builtin_references() -> tuple[Reference, ...]:
    text = (
        resources.files("fimiwatch.triage")
        .joinpath("data/reference_domains.csv")
        .read_text(encoding="utf-8")
    )
    return tuple(
        Reference(r["name"], r["domain"], r["kind"]) for r in csv.DictReader(io.StringIO(text))
    )


@cache
def _listed(name: str) -> frozenset[str]:
    text = resources.files("fimiwatch.triage").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def is_free_mail(domain: str) -> bool:
    return domain in _listed("free_mail.txt")


def is_shortener(host: str) -> bool:
    return host in _listed("shorteners.txt")


def domain_of(address: str | None) -> str:
    """The lower-cased domain of a mail address ('' without one)."""
    if not address or "@" not in address:
        return ""
    return address.rsplit("@", 1)[1].strip().strip(">").lower().rstrip(".")


def host_of(url: str | None) -> str:
    """The lower-cased host of a URL ('' when it has none or cannot be parsed)."""
    try:
        return (urlsplit((url or "").strip()).hostname or "").rstrip(".")
    except ValueError:
        return ""


def belongs(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def unicode_host(host: str) -> str:
    """Punycode labels decoded (``xn--europa1-wgg.eu`` → ``europaг1.eu``); others as they are."""
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError, ValueError):
                label = codecs.decode(label[4:].encode("ascii"), "punycode")
        labels.append(label)
    return ".".join(labels)


def skeleton(text: str) -> str:
    """What a reader sees: confusable letters and digits folded to Latin ones."""
    return text.lower().translate(CONFUSABLES).replace("rn", "m").replace("vv", "w")


def imitation(host: str, references: tuple[Reference, ...]) -> tuple[Reference, str] | None:
    """The reference ``host`` imitates and how, or None (also when it belongs to one)."""
    if not host or any(belongs(host, r.domain) for r in references):
        return None
    shown = unicode_host(host)
    folded = skeleton(shown)
    for reference in references:
        if reference.domain.replace(".", "-") in host or f"{reference.domain}." in host:
            return reference, f"spells {reference.domain} inside another domain"
        if shown != host and len(reference.label) >= MIN_LABEL and reference.label in folded:
            return reference, f"punycode {host} shows as {shown}, read as {reference.label}"
        readable = len(reference.label) >= MIN_LABEL and reference.label not in host
        if readable and any(skeleton(label) == reference.label for label in shown.split(".")):
            return reference, f"homoglyphs: {shown} reads as {reference.label}"
        edits = Levenshtein.distance(host, reference.domain)
        if len(reference.domain) >= 6 and 0 < edits <= MAX_EDITS:
            return reference, f"{host} is {edits} edit(s) from {reference.domain}"
    return None
