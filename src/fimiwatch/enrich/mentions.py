"""Link ingested text to the knowledge base: threat actors, registry outlets, watched targets.

:func:`link_mentions` finds, in every item not linked yet, the names the store knows and writes
one ``mentions`` row per occurrence (producer ``mentions``):

========================  ===================================  =================================
kind                      patterns                             entity
========================  ===================================  =================================
``actor``                 ``kb_aliases.alias``, ``kb_actors``  ``actor_id``
                          ``.name``
``actor-ambiguous``       an alias shared by several actors,   the alias ``key``
                          with cyber context but no way to
                          tell which actor
``source``                ``sources.name`` (also without a     the source key
                          trailing ``(…)`` qualifier),
                          ``sources.domain``
``target``                ``watchlist.name``, ``aliases``,     ``kind:name``
                          ``domains``
========================  ===================================  =================================

**Offsets.** ``start_char``/``end_char`` are code-point offsets into the item's *document*:
``concat_ws('\\n', title, text)`` (title, a newline, then the text; either part left out when it
is NULL), so ``document[start_char:end_char]`` is ``matched``. A domain found in ``links`` (not in
the text) has ``matched`` = the link and NULL offsets.

**Matching.** One Aho-Corasick automaton holds every pattern. Text and patterns are folded the
same way: per-character case folding that keeps the length (``str.casefold`` where that gives
one character, else ``str.lower``; accents are kept; every whitespace character becomes a
space), so offsets in the folded text are offsets in the original and ``casefold`` of a match
equals ``casefold`` of its pattern. A match counts only at word boundaries: the character
before it and the character after it must not be a letter, digit or combining mark
("APT31" does not fire in "APT310"; "Xinhua" fires in "Xinhua's" and "Xinhua,"). Edges in
scripts written without spaces (Han, kana, Hangul, Thai, Lao, Khmer, Myanmar) need no
boundary, and such a character next to a Latin pattern counts as a boundary ("APT31组织").
Overlapping matches: the longest wins ("Violet Typhoon" over "Typhoon"; "english.news.cn" over
"news.cn").

**Patterns that need support.** A name counts on its own unless it is weak:

- an acronym of at most ``short_chars`` (4) characters written in capitals ("CGTN", "APT1",
  "EP") must appear in capitals;
- an actor alias of at most ``short_chars`` characters, or a single common word ("Lotus",
  "Lead", "Zirconium": :data:`COMMON_WORDS`), counts only when the item also has a cyber
  context term (:data:`DEFAULT_CONTEXT_TERMS`, word prefixes in en/cs/sk/de/fr/lt/pl/ru/uk/zh)
  or a mention of the same actor by an alias that counts on its own;
- an alias that maps to several actors (the same folded text, or the same ``kb_aliases.key``)
  is given to the candidate(s) the item also names by an alias that counts on its own;
  failing that, with a cyber context term, it is recorded as ``actor-ambiguous`` with the
  alias key as entity; otherwise it is dropped;
- a watched person's single-word alias ("Menšíková", "Klárka") counts only when the item also
  has another of that person's name parts ("Klára", "Mensikova"…) or a full-name mention;
  multi-word names, initials forms ("K. Menšíková") and handles ("@KMensikova") count alone;
- a watched organisation's or election's alias of at most ``short_chars`` characters ("EP")
  counts only beside another mention of the same entry;
- a domain listed by several watchlist entries (a party and its candidate, a parliament and
  its members) names only the organisation/domain entries among them.

Whether a name is weak is decided from the name, not from the item, so the result does not
depend on batching. Declension (cs/sk/lt/pl inflected names) is not matched yet:
:func:`target_patterns` is the seam where inflected variants will be yielded.

**Idempotence.** ``mentions_linked`` records, per ingest, the fingerprint of the pattern set it
was linked with. A run links the ingests not recorded; when the knowledge base, registry,
watchlist or rules change (a new fingerprint), it drops this producer's rows for the older
ingests and links them again, so a name loaded later is found in old items too.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import ahocorasick_rs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fimiwatch.enrich.declension import inflected_names, inflections
from fimiwatch.store import Store

PRODUCER = "mentions"
BATCH_ROWS = 20_000
CHUNK_BYTES = 16 * 1024 * 1024
"""Upper bound on the text scanned in one automaton pass (bounds the folded copies)."""

_SEP = "\x00"

DEFAULT_CONTEXT_TERMS: tuple[str, ...] = (
    # A trailing * matches a word prefix (inflections, compounds); the rest are whole words.
    # en
    "hacker*", "hacking", "cyber*", "APT*", "espionage", "malware", "phishing",
    "intrusion*", "threat actor*", "threat group*", "spyware", "backdoor*", "ransomware",
    # cs, sk
    "hackeř*", "hekr*", "heker*", "kybernet*", "špionáž*", "kyberšpion*", "průnik*", "škodliv*",
    # de
    "Spionage", "Schadsoftware", "Schadprogramm*",
    # fr
    "pirate informatique", "pirates informatiques", "piratage*", "espionnage",
    "logiciel malveillant", "logiciels malveillants", "hameçonnage",
    # lt
    "įsilauž*", "kibernet*", "programiš*", "šnipinėj*", "kenkėjišk*",
    # pl
    "haker*", "szpieg*", "złośliw*", "włamani*",
    # ru, uk
    "хакер*", "кибер*", "кібер*", "шпионаж*", "шпигун*", "вредонос*", "фишинг*",
    # zh
    "黑客", "网络攻击", "網絡攻擊", "网络间谍", "間諜", "间谍", "恶意软件", "惡意軟件",
    "钓鱼邮件", "网络安全",
)  # fmt: skip

COMMON_WORDS: frozenset[str] = frozenset(
    # Single-word threat-actor aliases (MISP galaxy, ATT&CK) that are ordinary words, with a
    # frequency of at least one per million words in en/de/fr/cs/sk/pl/lt/ru/it/es/nl…
    """
    akira aluminum aluminium armageddon axiom basin bitter blackjack blackwood butterfly
    cardinal castle chimera cleaver confucius dragonfly equation foudre frankenstein
    gorilla inception indra lapsus lazarus leviathan lexus luder lyceum machete mantis
    mirage monsoon moonlight nitro patchwork pioneer polaris reaper sauron siesta silence
    snake summit superman trident voyeur watchdog wildcard wraith lotus panda
    """.split()  # noqa: SIM905
    # …and the chemical elements, after which Microsoft named actors until 2023.
    + """
    hydrogen helium lithium beryllium boron carbon nitrogen oxygen fluorine neon sodium
    magnesium silicon phosphorus sulfur sulphur chlorine argon potassium calcium scandium
    titanium vanadium chromium manganese iron cobalt nickel copper zinc gallium germanium
    arsenic selenium bromine krypton rubidium strontium yttrium zirconium niobium
    molybdenum technetium ruthenium rhodium palladium silver cadmium indium tin antimony
    tellurium iodine xenon caesium cesium barium lanthanum cerium praseodymium neodymium
    promethium samarium europium gadolinium terbium dysprosium holmium erbium thulium
    ytterbium lutetium hafnium tantalum tungsten rhenium osmium iridium platinum gold
    mercury thallium lead bismuth polonium astatine radon francium radium actinium
    thorium protactinium uranium neptunium plutonium americium curium berkelium
    californium einsteinium fermium mendelevium nobelium lawrencium rutherfordium
    dubnium seaborgium bohrium hassium meitnerium darmstadtium roentgenium copernicium
    nihonium flerovium moscovium livermorium tennessine oganesson
    """.split()  # noqa: SIM905
)


@dataclass(frozen=True)
class MentionRules:
    """What counts as a weak name and what supports it (see the module docstring)."""

    context_terms: tuple[str, ...] = DEFAULT_CONTEXT_TERMS
    common_words: frozenset[str] = COMMON_WORDS
    short_chars: int = 4
    batch_rows: int = BATCH_ROWS


class Payload(NamedTuple):
    """What a pattern means when it matches."""

    kind: str
    """``actor``, ``source``, ``target``; evidence only: ``context``, ``part``."""
    entity: str
    """actor id, source key, ``kind:name``; the alias key for ``ambiguous``; the person's
    entity for ``part``; ``cyber`` for ``context``."""
    rule: str
    """``always``; ``context`` (cyber context or the same actor); ``same`` (the same entity
    elsewhere); ``part`` (another name part of the person); ``ambiguous``; ``evidence``."""
    exact: str | None = None
    """The pattern as written, when the text must show it in exactly this case."""
    prefix: bool = False
    """Matches at the start of a word; no boundary needed after it."""
    token: str = ""
    """A person's folded name part (rules ``part`` and ``evidence`` of kind ``part``)."""
    candidates: tuple[str, ...] = ()
    """The actors an ambiguous alias may name."""


PatternSpec = tuple[str, Payload]
"""A pattern as written and its meaning."""

ENTITY_KINDS = frozenset({"actor", "source", "target"})

# --- folding and character classes ------------------------------------------------------

_NO_SPACE_SCRIPTS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x31FF),  # Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo…
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3FFFF),  # CJK extensions B…
)
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)


class _Tables(NamedTuple):
    classes: np.ndarray
    """Per code point: 0 not part of a word, 1 word character, 2 word character of a script
    written without spaces."""
    folds: np.ndarray
    """Per code point: the one code point it folds to."""


def _fold_char(char: str) -> str:
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lowered = char.lower()
    return lowered if len(lowered) == 1 else char


_ASSIGNED = ((0, 0x40000), (0xE0000, 0xE1000))
"""Where letters, digits and marks can be; the rest is unassigned or private use."""
_LAST_CASED = 0x1F000
"""No code point at or above this has a case mapping (checked by the tests)."""


@cache
def _tables() -> _Tables:
    category = unicodedata.category
    classes = np.zeros(0x110000, dtype=np.uint8)
    for low, high in _ASSIGNED:
        classes[low:high] = np.fromiter(
            (category(chr(c))[0] in "LNM" for c in range(low, high)), dtype=np.uint8
        )
    for low, high in _NO_SPACE_SCRIPTS:
        block = classes[low : high + 1]
        block[block == 1] = 2
    folds = np.arange(0x110000, dtype=np.uint32)
    folds[:_LAST_CASED] = np.fromiter(
        (ord(_fold_char(chr(c))) for c in range(_LAST_CASED)), dtype=np.uint32
    )
    folds[[ord(space) for space in _WHITESPACE]] = ord(" ")
    return _Tables(classes, folds)


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _text(codes: np.ndarray) -> str:
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


def fold(text: str) -> str:
    """Case-fold ``text`` one character at a time, keeping its length (accents are kept).

    Each character becomes ``casefold(c)`` where that is one character, else ``lower(c)``
    where that is one character, else itself ("ß" and "İ" stay); whitespace becomes " ".
    ``casefold(fold(s)) == casefold(s)`` for every string.
    """
    return _text(_tables().folds[_codes(text)])


def _char_class(char: str) -> int:
    return int(_tables().classes[ord(char)])


def _normalise_pattern(text: str) -> str:
    """A pattern as written, with runs of whitespace made one space and control characters
    dropped."""
    cleaned = "".join(c for c in text if c in _WHITESPACE or unicodedata.category(c)[0] != "C")
    return " ".join(cleaned.split())


# --- patterns ------------------------------------------------------------------------------


def _acronym(text: str, rules: MentionRules) -> str | None:
    """The text when it is a short capitalised acronym that must match in capitals."""
    if len(text) <= rules.short_chars and text == text.upper() and text != text.lower():
        return text
    return None


def _weak_actor_alias(folded: str, rules: MentionRules) -> bool:
    return len(folded) <= rules.short_chars or (" " not in folded and folded in rules.common_words)


def actor_patterns(
    rows: Iterable[tuple[str, str | None, str]], rules: MentionRules
) -> Iterator[PatternSpec]:
    """Patterns from ``(alias, key, actor_id)`` rows (``kb_aliases`` and actor names)."""
    by_fold: dict[str, list[tuple[str, str | None, str]]] = defaultdict(list)
    key_actors: dict[str, set[str]] = defaultdict(set)
    for alias, key, actor in rows:
        text = _normalise_pattern(alias or "")
        if text:
            by_fold[fold(text)].append((text, key, actor))
            if key:
                key_actors[key].add(actor)
    for folded, entries in sorted(by_fold.items()):
        entries.sort(key=lambda entry: (entry[0], entry[1] or "", entry[2]))
        actors = {actor for _, _, actor in entries}
        keys = sorted({key for _, key, _ in entries if key})
        for key in keys:
            actors |= key_actors[key]
        alias = entries[0][0]
        same_text = all(text == alias for text, _, _ in entries)
        exact = _acronym(alias, rules) if same_text else None
        if len(actors) > 1:
            entity = keys[0] if keys else folded
            yield (
                alias,
                Payload("actor", entity, "ambiguous", exact, candidates=tuple(sorted(actors))),
            )
        else:
            rule = "context" if _weak_actor_alias(folded, rules) else "always"
            yield alias, Payload("actor", entries[0][2], rule, exact)


_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")


def source_patterns(
    rows: Iterable[tuple[str, str | None, str | None]], rules: MentionRules
) -> Iterator[PatternSpec]:
    """Patterns from ``(source, name, domain)`` registry rows: the name, the name without a
    trailing ``(…)`` qualifier ("Xinhua News Agency (English)"), and the domain."""
    for source, name, domain in rows:
        names = {_normalise_pattern(name or "")}
        names.add(_QUALIFIER.sub("", next(iter(names))))
        for text in sorted(n for n in names if n):
            yield text, Payload("source", source, "always", _acronym(text, rules))
        if domain:
            yield domain.lower(), Payload("source", source, "always")


def _name_parts(texts: Iterable[str]) -> set[str]:
    """Folded words of a person's names, without initials ("K.") and handles ("@x")."""
    parts = set()
    for text in texts:
        for word in text.split():
            if word.startswith(("@", "#")) or word.endswith("."):
                continue
            word = word.strip(".,;:!?\"'()[]")
            if sum(1 for c in word if _char_class(c)) >= 2:
                parts.add(fold(word))
    return parts


def target_patterns(
    kind: str, name: str, aliases: Iterable[str], rules: MentionRules
) -> Iterator[PatternSpec]:
    """Patterns for one watchlist entry, with the case forms of people's names
    (``declension.py``: "Kláry Menšíkové", "Šimánkovi") carrying the same payloads as the
    nominative they inflect."""
    entity = f"{kind}:{name}"
    name = _normalise_pattern(name)
    others = [text for text in (_normalise_pattern(a) for a in aliases) if text]
    short = rules.short_chars

    def strong_or_same(text: str) -> Payload:
        return Payload("target", entity, "same" if len(text) <= short else "always",
                       _acronym(text, rules))  # fmt: skip

    if not name:
        return
    yield name, strong_or_same(name)
    if kind != "person":
        for text in others:
            yield text, strong_or_same(text)
        return
    for form in sorted(inflected_names(name)):
        yield form, strong_or_same(form)
    for text in others:
        if " " in text or text.startswith(("@", "#")):
            yield text, strong_or_same(text)
            if " " in text and not text.startswith(("@", "#")):
                for form in sorted(inflected_names(text)):
                    yield form, strong_or_same(form)
        else:
            payload = Payload("target", entity, "part", _acronym(text, rules), token=fold(text))
            yield text, payload
            for form in sorted(inflections(text)):
                yield form, payload._replace(exact=_acronym(form, rules))
    for part in sorted(_name_parts([name, *others])):
        yield part, Payload("part", entity, "evidence", token=part)
        for form in sorted(inflections(part)):
            yield form, Payload("part", entity, "evidence", token=part)


def context_patterns(terms: Iterable[str], rules: MentionRules) -> Iterator[PatternSpec]:
    """Cyber context terms; a trailing ``*`` makes a term match as a word prefix."""
    for term in terms:
        text = _normalise_pattern(term.rstrip("*"))
        if text:
            yield (
                text,
                Payload(
                    "context", "cyber", "evidence", _acronym(text, rules), prefix=term.endswith("*")
                ),
            )


def _domain_index(
    sources: Iterable[tuple[str, str | None, str | None]],
    watchlist: Iterable[tuple[str, str, list[str] | None, list[str] | None]],
) -> dict[str, tuple[Payload, ...]]:
    """Domain → payloads, for links and for domains written in the text."""
    index: dict[str, set[Payload]] = defaultdict(set)
    for source, _, domain in sources:
        if domain:
            index[domain.lower()].add(Payload("source", source, "always"))
    listed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for kind, name, aliases, domains in watchlist:
        names = [name, *(aliases or [])] if kind == "domain" else []
        for domain in [*names, *(domains or [])]:
            domain = domain.strip().lower().removeprefix("www.")
            if domain:
                listed[domain].add((kind, name))
    for domain, entries in listed.items():
        institutional = {e for e in entries if e[0] in ("organisation", "domain")}
        chosen = institutional if len(entries) > 1 and institutional else entries
        for kind, name in chosen:
            index[domain].add(Payload("target", f"{kind}:{name}", "always"))
    return {domain: tuple(sorted(payloads)) for domain, payloads in index.items()}


# --- the matcher -------------------------------------------------------------------------


@dataclass
class Matcher:
    """Every pattern in one automaton, with per-pattern arrays for vectorised filtering."""

    automaton: ahocorasick_rs.AhoCorasick | None
    patterns: list[str]
    """Folded pattern texts; ``patterns[i]`` carries ``payloads[i]``."""
    payloads: list[tuple[Payload, ...]]
    length: np.ndarray
    check_start: np.ndarray
    check_end: np.ndarray
    """The pattern ends with a spaced-script word character and no payload is a prefix."""
    end_is_word: np.ndarray
    has_entity: np.ndarray
    simple: np.ndarray
    """Every payload holds wherever the pattern passed the vectorised checks."""
    split: list[tuple[tuple[Payload, ...], bool, tuple[Payload, ...]]]
    domains: dict[str, tuple[Payload, ...]]
    fingerprint: str


def compile_matcher(
    specs: Iterable[PatternSpec], domains: dict[str, tuple[Payload, ...]] | None = None
) -> Matcher:
    grouped: dict[str, set[Payload]] = defaultdict(set)
    classes = _tables().classes
    for text, payload in specs:
        folded = fold(_normalise_pattern(text))
        if len(folded) >= 2 and any(classes[ord(c)] for c in folded):
            grouped[folded].add(payload)
    patterns = sorted(grouped)
    payloads = [tuple(sorted(grouped[folded])) for folded in patterns]
    digest = hashlib.sha256(repr(list(zip(patterns, payloads, strict=True))).encode())
    domains = domains or {}
    digest.update(repr(sorted(domains.items())).encode())
    automaton = None
    if patterns:
        # A DFA scans fastest; past ~250k pattern characters its memory grows, so an NFA.
        small = sum(len(p) for p in patterns) <= 250_000
        automaton = ahocorasick_rs.AhoCorasick(
            patterns,
            implementation=ahocorasick_rs.Implementation.DFA
            if small
            else ahocorasick_rs.Implementation.ContiguousNFA,
        )
    first = np.array([classes[ord(p[0])] for p in patterns], dtype=np.uint8)
    last = np.array([classes[ord(p[-1])] for p in patterns], dtype=np.uint8)
    any_prefix = np.array([any(p.prefix for p in group) for group in payloads], dtype=bool)
    check_end = (last == 1) & ~any_prefix
    python_checks = np.array(
        [
            any(p.exact is not None for p in group)
            or (last[i] == 1 and not check_end[i] and not all(p.prefix for p in group))
            for i, group in enumerate(payloads)
        ],
        dtype=bool,
    )
    return Matcher(
        automaton=automaton,
        patterns=patterns,
        payloads=payloads,
        length=np.array([len(p) for p in patterns], dtype=np.int64),
        check_start=first == 1,
        check_end=check_end,
        end_is_word=last == 1,
        has_entity=np.array(
            [any(p.kind in ENTITY_KINDS for p in group) for group in payloads], dtype=bool
        ),
        simple=~python_checks,
        split=[_split(group) for group in payloads],
        domains=domains,
        fingerprint=digest.hexdigest(),
    )


def load_matcher(store: Store, rules: MentionRules | None = None) -> Matcher:
    """Build the matcher from ``kb_aliases``/``kb_actors``, ``sources`` and ``watchlist``."""
    rules = rules or MentionRules()
    actors = store.con.execute(
        "SELECT alias, key, actor_id FROM kb_aliases "
        "UNION ALL SELECT name, NULL, actor_id FROM kb_actors"
    ).fetchall()
    sources = store.con.execute("SELECT source, name, domain FROM sources").fetchall()
    watchlist = store.con.execute("SELECT kind, name, aliases, domains FROM watchlist").fetchall()
    # The rules are in the patterns' payloads already; the words are hashed too so that the
    # fingerprint says which rules made them (sorted: set order differs between processes).
    rules_key = (sorted(rules.common_words), rules.context_terms, rules.short_chars)
    inputs = hashlib.sha256(repr((actors, sources, watchlist, rules_key)).encode()).hexdigest()
    cached = _COMPILED.get(inputs)
    if cached is None:
        _COMPILED.clear()  # one pattern set at a time: a watcher's, until its reference data change
        cached = _COMPILED[inputs] = _compile(actors, sources, watchlist, rules, rules_key)
    return cached


_COMPILED: dict[str, Matcher] = {}
"""The last compiled matcher, by a digest of what it was built from: compiling takes about
half a second, which every ``fimiwatch watch`` round would pay again."""


def _compile(
    actors: list[Any], sources: list[Any], watchlist: list[Any], rules: MentionRules,
    rules_key: tuple[Any, ...],
) -> Matcher:  # fmt: skip
    specs: list[PatternSpec] = [
        *actor_patterns(actors, rules),
        *source_patterns(sources, rules),
        *context_patterns(rules.context_terms, rules),
    ]
    for kind, name, aliases, _ in watchlist:
        specs.extend(target_patterns(kind, name, aliases or [], rules))
    domains = _domain_index(sources, watchlist)
    specs.extend((domain, payload) for domain, group in domains.items() for payload in group)
    matcher = compile_matcher(specs, domains)
    matcher.fingerprint = hashlib.sha256(f"{matcher.fingerprint}{rules_key!r}".encode()).hexdigest()
    return matcher


# --- matching --------------------------------------------------------------------------


class Found(NamedTuple):
    item: int
    """Index of the document in the batch."""
    kind: str
    entity: str
    matched: str
    start: int | None
    end: int | None


_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?P<host>[^/:?#@]+)"


def _host_payloads(host: str, domains: dict[str, tuple[Payload, ...]]) -> tuple[Payload, ...]:
    """Payloads of the longest registered domain that ``host`` is or lies under."""
    host = host.lower().rstrip(".")
    while host:
        found = domains.get(host)
        if found:
            return found
        _, _, host = host.partition(".")
    return ()


def _link_hits(links: pa.Array, matcher: Matcher) -> dict[int, list[tuple[Payload, str]]]:
    if not matcher.domains or links.null_count == len(links):
        return {}
    flat = pc.list_flatten(links)
    parents = pc.list_parent_indices(links).to_numpy()
    host = pc.utf8_lower(pc.struct_field(pc.extract_regex(flat, _HOST), [0]))
    unique = pc.drop_null(pc.unique(host))
    payload_of = [_host_payloads(h, matcher.domains) for h in unique.to_pylist()]
    which = pc.fill_null(pc.index_in(host, unique), -1).to_numpy(zero_copy_only=False)
    hits: dict[int, list[tuple[Payload, str]]] = defaultdict(list)
    for position in np.flatnonzero(which >= 0):
        payloads = payload_of[int(which[position])]
        if payloads:
            url = flat[int(position)].as_py()
            for payload in payloads:
                hits[int(parents[position])].append((payload, url))
    return hits


def match_documents(
    docs: list[str] | pa.Array,
    matcher: Matcher,
    links: pa.Array | None = None,
) -> list[Found]:
    """Mentions in each document (and its links) of one batch, by the rules above."""
    if isinstance(docs, list):
        docs = pa.array(docs, pa.string())
    elif isinstance(docs, pa.ChunkedArray):
        docs = docs.combine_chunks()
    docs = pc.fill_null(docs, "")
    count = len(docs)
    link_hits = _link_hits(links, matcher) if links is not None else {}
    found: list[Found] = []
    confirmed: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for item, hits in sorted(link_hits.items()):
        for payload, url in hits:
            found.append(Found(item, payload.kind, payload.entity, url, None, None))
            confirmed[item].add((payload.kind, payload.entity))
    if not count or matcher.automaton is None:
        return found

    lengths = pc.utf8_length(docs).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = pa.array([0, count], pa.int32())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, docs), _SEP)[0].as_py()
    original = _SEP + joined + _SEP
    tables = _tables()
    folded_codes = tables.folds[_codes(original)]
    folded = _text(folded_codes)
    item_start = np.empty(count, dtype=np.int64)
    item_start[0] = 1
    np.cumsum(lengths[:-1] + 1, out=item_start[1:])
    item_start[1:] += 1

    raw = np.array(
        matcher.automaton.find_matches_as_indexes(folded, overlapping=True), dtype=np.int64
    ).reshape(-1, 3)
    if not len(raw):
        return _sorted(found)
    pattern, start, end = raw[:, 0], raw[:, 1], raw[:, 2]
    keep = ~(matcher.check_start[pattern] & (tables.classes[folded_codes[start - 1]] == 1))
    keep &= ~(matcher.check_end[pattern] & (tables.classes[folded_codes[end]] == 1))
    pattern, start, end = pattern[keep], start[keep], end[keep]
    item = np.searchsorted(item_start, start, side="right") - 1
    entity_hit = matcher.has_entity[pattern]
    entity_items = np.unique(item[entity_hit])
    # Evidence-only hits (context terms, name parts) matter only beside a named entity.
    wanted = entity_hit | np.isin(item, entity_items)
    order = np.lexsort((-matcher.length[pattern], start, item))
    order = order[wanted[order]]
    items_l = item[order].tolist()
    starts_l = start[order].tolist()
    ends_l = end[order].tolist()
    patterns_l = pattern[order].tolist()
    bounds = np.flatnonzero(np.diff(item[order])) + 1
    for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(items_l)], strict=True):
        if lo == hi:
            continue
        doc_item = items_l[lo]
        found.extend(
            _resolve_item(
                doc_item,
                int(item_start[doc_item]),
                list(zip(patterns_l[lo:hi], starts_l[lo:hi], ends_l[lo:hi], strict=True)),
                original,
                folded,
                matcher,
                confirmed.get(doc_item, set()),
            )
        )
    return _sorted(found)


def _sorted(found: list[Found]) -> list[Found]:
    return sorted(
        found, key=lambda f: (f.item, f.start is not None, f.start or 0, f.kind, f.entity)
    )


def _payload_holds(
    payload: Payload, pattern: int, start: int, end: int, original: str, folded: str,
    matcher: Matcher,
) -> bool:  # fmt: skip
    if payload.exact is not None and fold_ws(original[start:end]) != payload.exact:
        return False
    return not (
        not payload.prefix
        and matcher.end_is_word[pattern]
        and not matcher.check_end[pattern]
        and _char_class(folded[end]) == 1
    )


def fold_ws(text: str) -> str:
    """Whitespace made single spaces, as in patterns (case kept)."""
    return " ".join(text.split())


def _split(payloads: Iterable[Payload]) -> tuple[tuple[Payload, ...], bool, tuple[Payload, ...]]:
    """A pattern's payloads as (named entities, is a context term, name-part evidence)."""
    payloads = tuple(payloads)
    return (
        tuple(p for p in payloads if p.kind in ENTITY_KINDS),
        any(p.kind == "context" for p in payloads),
        tuple(p for p in payloads if p.kind == "part"),
    )


def _resolve_item(
    item: int,
    base: int,
    hits: list[tuple[int, int, int]],
    original: str,
    folded: str,
    matcher: Matcher,
    confirmed: set[tuple[str, str]],
) -> Iterator[Found]:
    """Apply case, boundary, overlap and support rules to one document's hits (sorted by
    start, longest first)."""
    context = False
    parts: dict[str, set[str]] = defaultdict(set)
    spans: list[tuple[int, int, tuple[Payload, ...]]] = []
    last_end = -1
    for pattern, start, end in hits:
        if matcher.simple[pattern]:
            named, is_context, part_payloads = matcher.split[pattern]
        else:
            named, is_context, part_payloads = _split(
                p
                for p in matcher.payloads[pattern]
                if _payload_holds(p, pattern, start, end, original, folded, matcher)
            )
        context |= is_context
        for payload in part_payloads:
            parts[payload.entity].add(payload.token)
        if named and start >= last_end:
            spans.append((start, end, named))
            last_end = end
            for payload in named:
                if payload.rule == "always":
                    confirmed.add((payload.kind, payload.entity))
    for start, end, named in spans:
        emitted: set[tuple[str, str]] = set()
        for payload in named:
            for kind, entity in _counted(payload, context, parts, confirmed):
                if (kind, entity) not in emitted:
                    emitted.add((kind, entity))
                    yield Found(item, kind, entity, original[start:end], start - base, end - base)


def _counted(
    payload: Payload, context: bool, parts: dict[str, set[str]], confirmed: set[tuple[str, str]]
) -> list[tuple[str, str]]:
    rule, kind, entity = payload.rule, payload.kind, payload.entity
    if rule == "always":
        return [(kind, entity)]
    if rule == "context":
        return [(kind, entity)] if context or (kind, entity) in confirmed else []
    if rule == "same":
        return [(kind, entity)] if (kind, entity) in confirmed else []
    if rule == "part":
        supported = (kind, entity) in confirmed or bool(parts[entity] - {payload.token})
        return [(kind, entity)] if supported else []
    if rule == "ambiguous":
        named = [(kind, actor) for actor in payload.candidates if (kind, actor) in confirmed]
        if named:
            return named
        return [("actor-ambiguous", entity)] if context else []
    return []


# --- the store side ----------------------------------------------------------------------

MENTIONS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("item_source", pa.string()),
        ("kind", pa.string()),
        ("entity", pa.string()),
        ("matched", pa.string()),
        ("start_char", pa.int32()),
        ("end_char", pa.int32()),
        ("producer", pa.string()),
    ]
)


def _chunks(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """Slices of a batch whose documents hold at most ``CHUNK_BYTES`` between them."""
    sizes = pc.fill_null(pc.binary_length(batch.column("doc")), 0).to_numpy(zero_copy_only=False)
    total = np.cumsum(sizes, dtype=np.int64)
    start = 0
    while start < batch.num_rows:
        limit = (total[start - 1] if start else 0) + CHUNK_BYTES
        stop = max(int(np.searchsorted(total, limit, side="right")), start + 1)
        yield batch.slice(start, stop - start)
        start = stop


def _mentions_table(chunk: pa.RecordBatch, found: list[Found]) -> pa.Table:
    take = pa.array([f.item for f in found], pa.int64())
    return pa.table(
        {
            "item_id": pc.take(chunk.column("id"), take),
            "item_source": pc.take(chunk.column("source"), take),
            "kind": pa.array([f.kind for f in found], pa.string()),
            "entity": pa.array([f.entity for f in found], pa.string()),
            "matched": pa.array([f.matched for f in found], pa.string()),
            "start_char": pa.array([f.start for f in found], pa.int32()),
            "end_char": pa.array([f.end for f in found], pa.int32()),
            "producer": pa.array([PRODUCER] * len(found), pa.string()),
        },
        schema=MENTIONS_SCHEMA,
    )


def link_mentions(
    store: Store,
    progress: Callable[[int], None] | None = None,
    rules: MentionRules | None = None,
) -> int:
    """Link the items not linked yet (or linked with an older pattern set) to actors, sources
    and watched targets; write their ``mentions`` rows. Returns the number of rows written.

    Offsets are code points into ``concat_ws('\\n', title, text)``; see the module docstring
    for the rules. ``progress`` is called with the number of items done after each batch.
    """
    rules = rules or MentionRules()
    written = 0
    with store.transaction() as con:
        matcher = load_matcher(store, rules)
        pending = [
            row[0]
            for row in con.execute(
                """
                SELECT DISTINCT i.ingest_id FROM items i
                LEFT JOIN mentions_linked l USING (ingest_id)
                WHERE l.patterns IS DISTINCT FROM ?
                ORDER BY 1
                """,
                [matcher.fingerprint],
            ).fetchall()
        ]
        if not pending:
            return 0
        con.execute(
            """
            DELETE FROM mentions m USING items i
            WHERE m.producer = $producer AND i.ingest_id IN (
                SELECT ingest_id FROM mentions_linked WHERE list_contains($ingests, ingest_id))
            AND m.item_id = i.id AND m.item_source IS NOT DISTINCT FROM i.source
            """,
            {"producer": PRODUCER, "ingests": pending},
        )
        reader_con = con.cursor()
        try:
            reader = reader_con.sql(
                "SELECT id, source, concat_ws(chr(10), title, text) AS doc, links FROM items "
                "WHERE list_contains($ingests, ingest_id)",
                params={"ingests": pending},
            ).to_arrow_reader(rules.batch_rows)
            for batch in reader:
                for chunk in _chunks(batch):
                    found = match_documents(chunk.column("doc"), matcher, chunk.column("links"))
                    if found:
                        con.register("new_mentions", _mentions_table(chunk, found))
                        con.execute("INSERT INTO mentions BY NAME SELECT * FROM new_mentions")
                        con.unregister("new_mentions")
                        written += len(found)
                if progress:
                    progress(batch.num_rows)
        finally:
            reader_con.close()
        con.execute(
            "INSERT OR REPLACE INTO mentions_linked SELECT unnest($ingests), $patterns, now()",
            {"ingests": pending, "patterns": matcher.fingerprint},
        )
    return written
