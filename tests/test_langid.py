from __future__ import annotations

from pathlib import Path

from fimiwatch.config import DEFAULT_LANGUAGES
from fimiwatch.enrich.langid import detect, detect_missing_languages
from fimiwatch.ingest.pipeline import choose_reader, ingest_document, open_document
from fimiwatch.store import Store
from tests.conftest import post, write_jsonl

SAMPLES = {
    "en": "The European Parliament will vote on the new trade agreement next week.",
    "cs": "Evropský parlament bude příští týden hlasovat o nové obchodní dohodě.",
    "sk": "Európsky parlament bude budúci týždeň hlasovať o novej obchodnej dohode.",
    "fr": "Le Parlement européen votera la semaine prochaine sur le nouvel accord commercial.",
    "de": "Das Europäische Parlament wird nächste Woche über das neue Handelsabkommen abstimmen.",
    "lt": "Europos Parlamentas kitą savaitę balsuos dėl naujo prekybos susitarimo.",
    "ru": "Европейский парламент проголосует по новому торговому соглашению на следующей неделе.",
    "zh": "欧洲议会将于下周就新的贸易协定进行投票。",
}


def test_detect_restricted_languages() -> None:
    assert detect(list(SAMPLES.values()), DEFAULT_LANGUAGES) == list(SAMPLES)


def test_only_missing_languages_are_filled(store: Store, tmp_path: Path) -> None:
    records = [post(i, text=text) for i, text in enumerate(SAMPLES.values())]
    records.append(post(99, text="Ceci est écrit en français.", lang="de"))
    path = write_jsonl(tmp_path / "a.jsonl", records)
    document = open_document(str(path), store.settings)
    ingest_document(store, document, choose_reader(document))
    assert detect_missing_languages(store, DEFAULT_LANGUAGES) == len(SAMPLES)
    rows = store.rows("SELECT id, lang, lang_detected FROM items ORDER BY line")
    assert [r["lang"] for r in rows] == [*SAMPLES, "de"]
    assert [r["lang_detected"] for r in rows] == [True] * len(SAMPLES) + [False]
    assert detect_missing_languages(store, DEFAULT_LANGUAGES) == 0
