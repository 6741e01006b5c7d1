from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fimiwatch.enrich.mentions import (
    _ASSIGNED,
    _LAST_CASED,
    MentionRules,
    actor_patterns,
    compile_matcher,
    context_patterns,
    fold,
    link_mentions,
    load_matcher,
    match_documents,
    source_patterns,
    target_patterns,
)
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.store import Store
from tests.conftest import post, write_jsonl

ACTORS = [
    ("apt31", "APT31"),
    ("apt10", "APT10"),
    ("lead-group", "Lead"),
    ("panda-a", "Panda A"),
    ("panda-b", "Panda B"),
]
ALIASES = [  # alias, key, actor_id
    ("APT31", "apt31", "apt31"),
    ("Judgment Panda", "judgmentpanda", "apt31"),
    ("Violet Typhoon", "violettyphoon", "apt31"),
    ("ZIRCONIUM", "zirconium", "apt31"),
    ("TA412", "ta412", "apt31"),
    ("APT10", "apt10", "apt10"),
    ("Stone Panda", "stonepanda", "apt10"),
    ("Lead", "lead", "lead-group"),
    ("TG-3390", "tg3390", "panda-a"),
    ("Panda", "panda", "panda-a"),
    ("Panda", "panda", "panda-b"),
]
SOURCES = [  # source, name, domain
    ("xinhua", "Xinhua", "english.news.cn"),
    ("xinhua-zh", "新华网 (Xinhua, Chinese)", "news.cn"),
    ("cgtn", "CGTN", "cgtn.com"),
]
WATCHLIST = [  # kind, name, aliases, domains
    (
        "person",
        "Klára Menšíková",
        ["Klara Mensikova", "K. Menšíková", "Menšíková", "Klárka", "@KMensikova"],
        ["jasny-smer.example"],
    ),
    ("person", "Vojtěch Šimánek", ["Vojtech Simanek", "Šimánek"], ["psp.cz"]),
    ("organisation", "Jasný směr", ["Jasny smer"], ["jasny-smer.example"]),
    ("organisation", "European Parliament", ["EP", "Evropský parlament"], []),
    ("organisation", "Poslanecká sněmovna", ["Sněmovna"], ["psp.cz"]),
]
KLARA = "person:Klára Menšíková"


def fill_reference(store: Store) -> None:
    """The kb_*, sources and watchlist rows the tests match against (inserted directly)."""
    con = store.con
    con.executemany(
        "INSERT INTO kb_actors (actor_id, name, kind) VALUES (?, ?, 'intrusion-set')", ACTORS
    )
    con.executemany("INSERT INTO kb_aliases (alias, key, actor_id) VALUES (?, ?, ?)", ALIASES)
    con.executemany("INSERT INTO sources (source, name, domain) VALUES (?, ?, ?)", SOURCES)
    con.executemany(
        "INSERT INTO watchlist (kind, name, aliases, domains) VALUES (?, ?, ?, ?)", WATCHLIST
    )


def ingest(store: Store, tmp_path: Path, records: list[dict[str, Any]], name: str = "a") -> None:
    path = write_jsonl(tmp_path / f"{name}.jsonl", records)
    document = open_document(str(path), store.settings)
    ingest_document(store, document, choose_reader(document))


def items(texts: dict[str, str], **fields: Any) -> list[dict[str, Any]]:
    return [post(i, id=key, text=text, **fields) for i, (key, text) in enumerate(texts.items())]


def linked(store: Store, item_id: str | None = None) -> set[tuple[str, str]]:
    where = "WHERE item_id = ?" if item_id else ""
    rows = store.con.execute(
        f"SELECT DISTINCT kind, entity FROM mentions {where}", [item_id] if item_id else []
    ).fetchall()
    return {(kind, entity) for kind, entity in rows}


def spans_are_exact(store: Store) -> None:
    """Every stored span is its matched text, read back by DuckDB from the documented string."""
    bad = store.rows(
        """
        SELECT m.item_id, m.matched,
            substr(concat_ws(chr(10), i.title, i.text), m.start_char + 1,
                   m.end_char - m.start_char) AS stored
        FROM mentions m JOIN items i ON i.id = m.item_id
        WHERE m.start_char IS NOT NULL AND stored IS DISTINCT FROM m.matched
        """
    )
    assert bad == []


@pytest.fixture
def kb(store: Store) -> Store:
    fill_reference(store)
    return store


MULTILINGUAL = {
    "en": "Hackers of APT31, also tracked as Judgment Panda, phished Klára Menšíková, "
    "Xinhua's report said.",
    "cs": "Skupina Violet Typhoon (APT31) cílila na Klára Menšíková, uvedla agentura Xinhua, "
    "podle níž hackeři používali sledovací pixely.",
    "sk": "Podľa Xinhua, hackeri zo skupiny ZIRCONIUM útočili na poslancov; Klára Menšíková "
    "to potvrdila.",
    "fr": "Les pirates informatiques de Judgment Panda visaient Klara Mensikova, selon CGTN.",
    "de": "Die Hackergruppe Violet Typhoon griff Klára Menšíková an, meldete CGTN.",
    "lt": "Įsilaužėliai iš APT31 (Judgment Panda) taikėsi į Klára Menšíková, rašo Xinhua.",
    "ru": "Хакеры APT31 (Violet Typhoon) атаковали Klára Menšíková, сообщает CGTN.",
    "zh": "据新华网报道，APT31组织（又称Judgment Panda）的黑客攻击了Klára Menšíková。",
}


def test_multilingual_items_link_actor_outlet_and_person(kb: Store, tmp_path: Path) -> None:
    ingest(kb, tmp_path, items(MULTILINGUAL, links=["https://english.news.cn/2024/a.htm"]))
    written = link_mentions(kb)
    assert written == kb.scalar("SELECT count(*) FROM mentions WHERE producer = 'mentions'")
    for lang in MULTILINGUAL:
        found = linked(kb, lang)
        assert ("actor", "apt31") in found, lang
        assert ("target", KLARA) in found, lang
        assert ("source", "xinhua") in found, lang  # at least by the link's domain
    assert ("source", "cgtn") in linked(kb, "fr")
    assert ("source", "xinhua-zh") in linked(kb, "zh")
    aliases = {r["matched"] for r in kb.rows("SELECT matched FROM mentions WHERE kind = 'actor'")}
    assert aliases == {"APT31", "Judgment Panda", "Violet Typhoon", "ZIRCONIUM"}
    by_link = kb.rows("SELECT * FROM mentions WHERE item_id = 'en' AND start_char IS NULL")
    assert [(r["entity"], r["matched"]) for r in by_link] == [
        ("xinhua", "https://english.news.cn/2024/a.htm")
    ]
    spans_are_exact(kb)


def test_word_boundaries(kb: Store, tmp_path: Path) -> None:
    texts = {
        "longer": "The APT310 sample and APT31x are not APT31 hackers? (APT31 is)",
        "possessive": "Xinhua's report",
        "comma": "Podle agentury Xinhua, která…",
        "inside": "MyXinhua and Xinhuanet",
        "hashtag": "#APT31 #hacker",
        "cjk": "APT31组织的黑客",
        "digits": "1APT31 hackers",
    }
    ingest(kb, tmp_path, items(texts))
    link_mentions(kb)
    rows = kb.rows("SELECT item_id, matched, start_char FROM mentions ORDER BY item_id, start_char")
    assert [(r["item_id"], r["matched"], r["start_char"]) for r in rows] == [
        ("cjk", "APT31", 0),
        ("comma", "Xinhua", 15),
        ("hashtag", "APT31", 1),
        ("longer", "APT31", 37),
        ("longer", "APT31", 53),
        ("possessive", "Xinhua", 0),
    ]


def test_offsets_after_characters_that_change_length_when_folded(kb: Store, tmp_path: Path) -> None:
    text = "Straße İSTANBUL ﬁx 😀👍🏽 Σίσυφος: STRASSE İ APT31 und Xinhua ß"
    ingest(kb, tmp_path, [post(1, id="x", title="Titel ẞ İ", text=text)])
    link_mentions(kb)
    rows = kb.rows("SELECT matched, start_char, end_char FROM mentions ORDER BY start_char")
    document = "Titel ẞ İ\n" + text
    assert [(r["matched"], document[r["start_char"] : r["end_char"]]) for r in rows] == [
        ("APT31", "APT31"),
        ("Xinhua", "Xinhua"),
    ]
    spans_are_exact(kb)


def test_fold_keeps_length_and_casefold_meaning() -> None:
    samples = "Straße ẞ İstanbul ΣΊΣΥΦΟΣ ς ﬁ ŉ µ ꭰ 😀 Ǆ\u00a0\t\nZIRCONIUM"
    assert len(fold(samples)) == len(samples)
    assert fold(samples).casefold() == samples.casefold().replace("\u00a0", " ").replace(
        "\t", " "
    ).replace("\n", " ")
    assert fold("ZIRCONIUM Σ ς") == "zirconium σ σ"
    assert fold("İ") == "İ" and fold("ß") == "ß"


def test_every_code_point_folds_to_one_character_with_the_same_casefold() -> None:
    chars = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    folded = fold(chars)
    assert len(folded) == len(chars)
    for original, single in zip(chars, folded, strict=True):
        if not original.isspace():
            assert single.casefold() == original.casefold(), hex(ord(original))


def test_the_character_tables_cover_unicode() -> None:
    """The tables skip code points that cannot be word characters or change case."""
    gaps = [(high, low) for (_, high), (low, _) in pairwise([*_ASSIGNED, (0x110000, 0)])]
    for low, high in gaps:
        word = [c for c in range(low, high) if unicodedata.category(chr(c))[0] in "LNM"]
        assert word == []
    uncased = "".join(chr(c) for c in range(_LAST_CASED, 0x110000) if not 0xD800 <= c < 0xE000)
    assert uncased.lower() == uncased == uncased.casefold() == uncased.upper()


def test_weak_aliases_need_cyber_context_or_a_strong_alias(kb: Store, tmp_path: Path) -> None:
    texts = {
        "lead-plain": "Lead the way, said the minister.",
        "lead-cyber": "Lead, a hacker group, was active.",
        "lead-lowercase-context": "The lead investigator spoke about cyberattacks.",
        "zr-mining": "ZIRCONIUM prices rose after the mine closed.",
        "zr-cs": "Skupina ZIRCONIUM, tedy čínští hackeři, …",
        "zr-ru": "ZIRCONIUM — кибершпионаж",
        "zr-zh": "ZIRCONIUM黑客",
        "zr-strong": "ZIRCONIUM, better known as Violet Typhoon.",
        "lead-other-actor": "Lead and APT10",
    }
    ingest(kb, tmp_path, items(texts))
    link_mentions(kb)
    assert linked(kb, "lead-plain") == set()
    assert linked(kb, "lead-cyber") == {("actor", "lead-group")}
    assert linked(kb, "lead-lowercase-context") == {("actor", "lead-group")}
    assert linked(kb, "zr-mining") == set()
    for key in ("zr-cs", "zr-ru", "zr-zh"):
        assert linked(kb, key) == {("actor", "apt31")}, key
    assert kb.scalar("SELECT count(*) FROM mentions WHERE item_id = 'zr-strong'") == 2
    # APT10 is a cyber context term too ("APT*"), so Lead counts beside it.
    assert linked(kb, "lead-other-actor") == {("actor", "lead-group"), ("actor", "apt10")}


def test_alias_of_several_actors(kb: Store, tmp_path: Path) -> None:
    texts = {
        "alone": "A Panda was born in the zoo.",
        "with-context": "Panda hackers struck again.",
        "with-strong-alias": "Panda, also called TG-3390, was seen.",
        "inside-longer": "Stone Panda and Judgment Panda",
    }
    ingest(kb, tmp_path, items(texts))
    link_mentions(kb)
    assert linked(kb, "alone") == set()
    assert linked(kb, "with-context") == {("actor-ambiguous", "panda")}
    assert linked(kb, "with-strong-alias") == {("actor", "panda-a")}
    assert linked(kb, "inside-longer") == {("actor", "apt10"), ("actor", "apt31")}


def test_watched_person_single_word_alias_needs_another_name_part(
    kb: Store, tmp_path: Path
) -> None:
    texts = {
        "surname-only": "Menšíková said nothing.",
        "first-name-too": "Klára, as voters call her, … Menšíková said.",
        "nickname-and-surname": "Klárka? Menšíková!",
        "full-name": "Klára Menšíková spoke.",
        "initial": "K. Menšíková spoke.",
        "handle": "RT @KMensikova: vote!",
        "other-person-part": "Vojtěch and Menšíková",
    }
    ingest(kb, tmp_path, items(texts))
    link_mentions(kb)
    assert linked(kb, "surname-only") == set()
    assert linked(kb, "first-name-too") == {("target", KLARA)}
    assert kb.scalar("SELECT count(*) FROM mentions WHERE item_id = 'nickname-and-surname'") == 2
    for key in ("full-name", "initial", "handle"):
        assert linked(kb, key) == {("target", KLARA)}, key
    assert linked(kb, "other-person-part") == set()


def test_declined_names_are_found_without_firing_on_other_words(kb: Store, tmp_path: Path) -> None:
    texts = {
        "instrumental": "Rozhovor s Klárou Menšíkovou o volbách.",
        "genitive-both": "Program Kláry Menšíkové je jasný.",
        "slovak-surname-and-first": "Klára? Podľa Menšíkovej nie.",
        "surname-alone-declined": "Podle Menšíkové ne.",
        "masculine-dative": "Vojtěchu Šimánkovi poslali dopis.",
        "dative-alone": "Poslali dopis Šimánkovi.",
        "unrelated-word": "Menšík a Klárovice nejsou ona.",
    }
    ingest(kb, tmp_path, items(texts))
    link_mentions(kb)
    for key in ("instrumental", "genitive-both", "slovak-surname-and-first"):
        assert linked(kb, key) == {("target", KLARA)}, key
    assert linked(kb, "masculine-dative") == {("target", "person:Vojtěch Šimánek")}
    assert linked(kb, "surname-alone-declined") == set()  # a lone surname needs support
    assert linked(kb, "dative-alone") == set()
    assert linked(kb, "unrelated-word") == set()
    spans_are_exact(kb)


def test_declension_rules() -> None:
    from fimiwatch.enrich.declension import inflected_names, inflections

    assert {"Menšíkové", "Menšíkovou", "Menšíkovej"} <= inflections("Menšíková")
    assert {"Šimánka", "Šimánkovi", "Šimánkem"} <= inflections("Šimánek")
    assert {"Kowalskiego", "Kowalskim"} <= inflections("Kowalski")
    assert {"Vaitkaus", "Vaitkui"} <= inflections("Vaitkus")
    assert {"Kláry", "Klárou", "Kláře"} <= inflections("Klára")
    assert inflections("EP") == set() and inflections("Ana") == set()  # too short to inflect
    assert "Kláry Menšíkové" in inflected_names("Klára Menšíková")
    assert "Klára Menšíková" not in inflected_names("Klára Menšíková")


def test_short_names_match_case_and_need_support(kb: Store, tmp_path: Path) -> None:
    texts = {
        "ep-alone": "The EP voted.",
        "ep-supported": "The European Parliament (EP) voted.",
        "ep-lowercase": "Step by step, the ep voted; European Parliament too.",
        "cgtn": "CGTN reported; cgtn lowercased does not count.",
    }
    ingest(kb, tmp_path, items(texts))
    link_mentions(kb)
    assert linked(kb, "ep-alone") == set()
    rows = kb.rows("SELECT matched FROM mentions WHERE item_id = 'ep-supported' ORDER BY 1")
    assert [r["matched"] for r in rows] == ["EP", "European Parliament"]
    rows = kb.rows("SELECT matched FROM mentions WHERE item_id = 'ep-lowercase'")
    assert [r["matched"] for r in rows] == ["European Parliament"]
    rows = kb.rows("SELECT matched FROM mentions WHERE item_id = 'cgtn'")
    assert [r["matched"] for r in rows] == ["CGTN"]


def test_domains_in_links_and_text(kb: Store, tmp_path: Path) -> None:
    records = [
        post(1, id="zh-link", text="x", links=["http://www.news.cn/a", "https://example.org/"]),
        post(2, id="en-link", text="x", links=["https://user@english.news.cn:443/b"]),
        post(3, id="psp", text="x", links=["https://www.psp.cz/sqw/hp.sqw"]),
        post(4, id="party", text="x", links=["https://jasny-smer.example/program"]),
        post(5, id="text", text="Read it on cgtn.com/news or www.cgtn.com, not notcgtn.com."),
        post(6, id="none", text="x", links=["not a url", "ftp://cgtn.com.evil.example/"]),
    ]
    ingest(kb, tmp_path, records)
    link_mentions(kb)
    assert linked(kb, "zh-link") == {("source", "xinhua-zh")}
    assert linked(kb, "en-link") == {("source", "xinhua")}
    # A domain several watchlist entries share names the organisation, not its members.
    assert linked(kb, "psp") == {("target", "organisation:Poslanecká sněmovna")}
    assert linked(kb, "party") == {("target", "organisation:Jasný směr")}
    rows = kb.rows("SELECT matched FROM mentions WHERE item_id = 'text' ORDER BY start_char")
    assert [r["matched"] for r in rows] == ["cgtn.com", "cgtn.com"]
    assert linked(kb, "none") == set()


def test_linking_is_idempotent_and_takes_new_items_only(kb: Store, tmp_path: Path) -> None:
    ingest(kb, tmp_path, items({"a": "APT31 again", "b": "nothing here"}), "first")
    assert link_mentions(kb) == 1
    assert link_mentions(kb) == 0
    ingest(kb, tmp_path, items({"c": "Violet Typhoon", "d": "APT31 again"}), "second")
    done: list[int] = []
    assert link_mentions(kb, progress=done.append) == 2
    assert done == [2]
    assert link_mentions(kb) == 0
    assert kb.scalar("SELECT count(*) FROM mentions") == 3
    assert kb.scalar("SELECT count(*) FROM mentions_linked") == 2


def test_a_changed_knowledge_base_relinks_old_items(kb: Store, tmp_path: Path) -> None:
    ingest(kb, tmp_path, items({"a": "APT31 and Sandworm", "b": "APT31"}))
    assert link_mentions(kb) == 2
    kb.con.execute("INSERT INTO kb_actors (actor_id, name, kind) VALUES ('apt44', 'APT44', 'x')")
    kb.con.execute("INSERT INTO kb_aliases VALUES ('Sandworm', 'sandworm', 'apt44', NULL)")
    assert link_mentions(kb) == 3
    assert linked(kb, "a") == {("actor", "apt31"), ("actor", "apt44")}
    assert kb.scalar("SELECT count(*) FROM mentions") == 3
    assert link_mentions(kb) == 0


def test_other_producers_rows_are_kept(kb: Store, tmp_path: Path) -> None:
    ingest(kb, tmp_path, items({"a": "APT31"}))
    kb.con.execute("INSERT INTO mentions VALUES ('a', NULL, 'actor', 'x', 'x', 0, 1, 'other')")
    link_mentions(kb)
    kb.con.execute("INSERT INTO kb_aliases VALUES ('Sandworm', 'sandworm', 'apt31', NULL)")
    link_mentions(kb)
    assert kb.scalar("SELECT count(*) FROM mentions WHERE producer = 'other'") == 1
    assert kb.scalar("SELECT count(*) FROM mentions WHERE producer = 'mentions'") == 1


def test_batches_and_empty_store(store: Store, tmp_path: Path) -> None:
    assert link_mentions(store) == 0
    fill_reference(store)
    ingest(store, tmp_path, [post(i, text=f"{i} APT31 hackers") for i in range(25)])
    done: list[int] = []
    written = link_mentions(store, progress=done.append, rules=MentionRules(batch_rows=10))
    assert written == 25 and sum(done) == 25
    spans_are_exact(store)


def test_documents_without_text_or_patterns() -> None:
    rules = MentionRules()
    empty = compile_matcher([])
    assert match_documents(["APT31", None, ""], empty) == []
    matcher = compile_matcher(actor_patterns([("APT31", "apt31", "apt31")], rules))
    found = match_documents([None, "", "APT31"], matcher)
    assert [(f.item, f.start, f.end) for f in found] == [(2, 0, 5)]


def _property_matcher() -> Any:
    rules = MentionRules()
    return compile_matcher(
        [
            *actor_patterns(ALIASES, rules),
            *source_patterns(SOURCES, rules),
            *context_patterns(rules.context_terms, rules),
            *(
                spec
                for kind, name, aliases, _ in WATCHLIST
                for spec in target_patterns(kind, name, aliases, rules)
            ),
        ]
    )


PROPERTY_MATCHER = _property_matcher()
FRAGMENTS = st.sampled_from(
    [
        "APT31", "apt31", "Judgment Panda", "JUDGMENT PANDA", "Panda", "hacker", "Xinhua",
        "新华网", "黑客", "Klára Menšíková", "KLÁRA MENŠÍKOVÁ", "Menšíková", "ß", "İ", "ẞ",
        "😀", "ς", " ", "\n", "'", "0", "x", "EP",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=12), max_size=6))
def test_spans_always_casefold_equal_a_pattern(documents: list[list[str]]) -> None:
    docs = ["".join(parts) for parts in documents]
    folded_patterns = {p.casefold() for p in PROPERTY_MATCHER.patterns}
    for found in match_documents(docs, PROPERTY_MATCHER):
        assert found.start is not None and found.end is not None
        span = docs[found.item][found.start : found.end]
        assert span == found.matched
        assert span.casefold() in folded_patterns


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(), max_size=5), st.lists(st.text(max_size=40), max_size=4))
def test_arbitrary_text_and_links_never_raise(docs: list[str], links: list[str]) -> None:
    link_column = pa.array([links] * len(docs), pa.list_(pa.string()))
    match_documents(docs, PROPERTY_MATCHER, link_column)


def test_load_matcher_reads_the_tables(kb: Store) -> None:
    matcher = load_matcher(kb)
    assert "judgment panda" in matcher.patterns
    assert "xinhua" in matcher.patterns and "新华网" in matcher.patterns
    assert "klára menšíková" in matcher.patterns
    assert load_matcher(kb).fingerprint == matcher.fingerprint
    assert load_matcher(kb, MentionRules(short_chars=3)).fingerprint != matcher.fingerprint


def test_the_fingerprint_is_the_same_in_every_process(kb: Store) -> None:
    """Set order changes with the hash seed; the fingerprint must not."""
    script = (
        "import sys; from pathlib import Path; from fimiwatch.config import Settings; "
        "from fimiwatch.store import Store; from fimiwatch.enrich.mentions import load_matcher; "
        "s = Store(Path(sys.argv[1]), Settings(db=Path(sys.argv[1]), duckdb_threads=1)); "
        "print(load_matcher(s).fingerprint); s.close()"
    )
    expected = load_matcher(kb).fingerprint
    kb.close()
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script, str(kb.path)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert out.stdout.strip() == expected
