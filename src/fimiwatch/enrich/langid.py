"""Language identification for items that arrive without ``lang`` (lingua, restricted set).

Restricting lingua to the languages analysts work in keeps it accurate on short posts and
keeps its memory small; the set is ``Settings.languages``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import pyarrow as pa
from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from fimiwatch.store import Store

BATCH = 20_000
SAMPLE_CHARS = 1_000


@cache
def detector_for(languages: tuple[str, ...]) -> LanguageDetector:
    try:
        codes = [IsoCode639_1.from_str(code) for code in languages]
    except ValueError as exc:
        raise ValueError(f"unknown language code in {', '.join(languages)}: {exc}") from exc
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()


def detect(texts: Sequence[str], languages: tuple[str, ...]) -> list[str | None]:
    """ISO 639-1 code per text, or None where lingua cannot decide."""
    found = detector_for(languages).detect_languages_in_parallel_of(list(texts))
    return [lang.iso_code_639_1.name.lower() if lang else None for lang in found]


def detect_missing_languages(
    store: Store, languages: tuple[str, ...], progress: Callable[[int], None] | None = None
) -> int:
    """Fill ``lang`` (flagged ``lang_detected``) where the input gave none. Returns the count."""
    done = 0
    with store.transaction() as con:
        pending = store.arrow(
            f"""
            SELECT rowid AS row_id,
                left(concat_ws(' ', title, text), {SAMPLE_CHARS}) AS sample
            FROM items WHERE lang IS NULL AND NOT lang_detected
            ORDER BY rowid
            """
        )
        for start in range(0, pending.num_rows, BATCH):
            chunk = pending.slice(start, BATCH)
            codes = detect(chunk.column("sample").to_pylist(), languages)
            con.register(
                "detected",
                pa.table({"row_id": chunk.column("row_id"), "lang": pa.array(codes, pa.string())}),
            )
            con.execute(
                "UPDATE items SET lang = detected.lang, lang_detected = true "
                "FROM detected WHERE items.rowid = detected.row_id"
            )
            con.unregister("detected")
            done += chunk.num_rows
            if progress:
                progress(chunk.num_rows)
    return done
