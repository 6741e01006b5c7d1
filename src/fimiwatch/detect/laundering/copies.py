"""Find the copies: origin articles whose passages reappear in later articles of other outlets.

1. Origins are articles (``platforms``) of registry sources with a state affiliation;
   candidates are later articles of other, non-state sources within ``max_lag_days``.
2. Both are cut into passages (``passages.py``); passage pairs come from word shingles (same
   language) and embeddings (across languages) (``match.py``).
3. Per (origin, candidate) the passage pairs are aligned one to one, best first, so that one
   copy passage cannot stand for several origin passages (across languages only specific
   pairs count, ``match.specific_alignment``). The candidate is a copy when the
   aligned passages number at least ``min_aligned_passages`` (or all of a shorter origin) and
   cover ``min_origin_coverage`` of the origin's text: a partial reuse inside a longer local
   piece passes, a text that merely resembles one paragraph does not.
4. Each copy keeps the origin it reuses most.
5. Through another copy (``pivot``): a state article is often laundered into several
   languages, and a translation the models cannot tie to its Chinese original may still align
   with the French copy that was found (the models are strongest between European languages).
   A candidate that no origin matched is a copy of origin O when it aligns specifically
   (``Calibration.pivot_min_gap``) with a copy found in steps 1–4 — the *via*, of another
   outlet — and the via's passages it aligns with are, through the via's own alignment, origin
   passages covering ``min_origin_coverage`` of O. Copies found this way name their via and are
   not vias themselves.
6. Attribution: does the copy name the origin outlet, its domain or the origin URL
   (``attribution.py``)?
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from fimiwatch.detect.laundering.attribution import check, outlet_names
from fimiwatch.detect.laundering.match import (
    crosses_shingle_limit,
    shingle_pairs,
    specific_alignment,
    windowed_embedding_pairs,
)
from fimiwatch.detect.laundering.params import Calibration, LaunderingParams
from fimiwatch.detect.laundering.passages import passages
from fimiwatch.enrich.embeddings import embed_texts
from fimiwatch.store import Store

MAX_EVIDENCE_PASSAGES = 12


@dataclass(frozen=True)
class AlignedPassage:
    origin_passage: int
    copy_passage: int
    similarity: float
    method: str
    """``shingles`` (same-language overlap) or ``embedding`` (cosine)."""


@dataclass(frozen=True)
class Copy:
    origin: dict[str, Any]
    copy: dict[str, Any]
    aligned: tuple[AlignedPassage, ...]
    origin_coverage: float
    copy_coverage: float
    similarity: float
    attributed: bool
    named_as: str | None
    credit_line: str | None
    via: dict[str, Any] | None = None
    """The other copy of the origin this one was found through (step 5), or None."""

    @property
    def lag_seconds(self) -> float:
        return (self.copy["published_at"] - self.origin["published_at"]).total_seconds()

    def evidence_pair(self) -> dict[str, Any]:
        """The pair as the findings contract spells it, with the aligned passages."""
        origin_passages, copy_passages = self.origin["passages"], self.copy["passages"]
        return {
            "origin_id": self.origin["id"],
            "copy_id": self.copy["id"],
            "similarity": round(self.similarity, 4),
            "lag_seconds": self.lag_seconds,
            "attributed": self.attributed,
            "origin_lang": self.origin["lang"],
            "copy_lang": self.copy["lang"],
            "origin_source": self.origin["source"],
            "copy_source": self.copy["source"],
            "origin_coverage": round(self.origin_coverage, 4),
            "copy_coverage": round(self.copy_coverage, 4),
            "named_as": self.named_as,
            "credit_line": self.credit_line,
            "via_id": self.via["id"] if self.via else None,
            "passages": [
                {
                    "origin": origin_passages[a.origin_passage],
                    "copy": copy_passages[a.copy_passage],
                    "similarity": round(a.similarity, 4),
                    "method": a.method,
                }
                for a in self.aligned[:MAX_EVIDENCE_PASSAGES]
            ],
        }


ITEMS_SQL = """
    SELECT i.id, i.source, i.published_at, i.lang, i.title, i.text, i.url, i.ingest_id,
        s.name AS source_name, s.domain AS source_domain, s.affiliation
    FROM items i LEFT JOIN sources s ON s.source = i.source
    WHERE i.text IS NOT NULL AND i.published_at IS NOT NULL AND {condition}
    ORDER BY i.published_at, i.id
"""


ORIGINS = "s.affiliation IN (SELECT unnest(?)) AND i.platform IN (SELECT unnest(?))"


def _origins(store: Store, params: LaunderingParams) -> list[dict[str, Any]]:
    """The origin articles, oldest first, with their passages."""
    origins = store.rows(
        ITEMS_SQL.format(condition=ORIGINS),
        [list(params.origin_affiliations), list(params.platforms)],
    )
    for item in origins:
        item["passages"] = passages(
            item["text"], params.min_passage_chars, params.max_passage_chars
        )
    return origins


def shingle_limit_crossed(store: Store, params: LaunderingParams, after_ingest: int) -> bool:
    """Whether origins ingested after ``after_ingest`` make a shingle too common to count."""
    origins = _origins(store, params)
    owner, texts = _flatten(origins)
    is_new = np.array([item["ingest_id"] > after_ingest for item in origins], dtype=bool)
    return crosses_shingle_limit(store.con, texts, is_new[owner] if len(owner) else is_new[:0])


def find_copies(
    store: Store, params: LaunderingParams, candidate_ids: list[str] | None = None
) -> list[Copy]:
    """Every (origin, copy) pair that passes, in a deterministic order; among the candidates
    with ``candidate_ids`` only, if given. A candidate's direct result depends on the origins
    alone; one found through another copy (step 5) also on the direct copies among the
    candidates examined."""
    affiliations = list(params.origin_affiliations)
    origins = _origins(store, params)
    if not origins:
        return []
    earliest = min(o["published_at"] for o in origins)
    latest = max(o["published_at"] for o in origins) + timedelta(days=params.max_lag_days)
    candidates = store.rows(
        ITEMS_SQL.format(
            condition="coalesce(s.affiliation, 'unknown') NOT IN (SELECT unnest(?)) "
            "AND i.platform IN (SELECT unnest(?)) AND i.published_at > ? "
            "AND i.published_at <= ?"
            + ("" if candidate_ids is None else " AND list_contains(?, i.id)")
        ),
        [affiliations, list(params.platforms), earliest, latest]
        + ([] if candidate_ids is None else [candidate_ids]),
    )
    if not candidates:
        return []
    for item in candidates:
        item["passages"] = passages(
            item["text"], params.min_passage_chars, params.max_passage_chars
        )
    origin_of, origin_texts = _flatten(origins)
    copy_of, copy_texts = _flatten(candidates)
    calibration = params.calibrated()
    vectors = embed_texts(store, origin_texts + copy_texts, params.backend)
    spans = _Spans(origins, candidates, vectors[: len(origin_texts)], vectors[len(origin_texts) :])
    nearby = windowed_embedding_pairs(
        spans.origin_vectors, _epoch(origins, origin_of), spans.copy_vectors,
        _epoch(candidates, copy_of), params.neighbours, calibration.min_cosine,
        params.max_lag_days * 86400,
    )  # fmt: skip
    shared = shingle_pairs(store.con, origin_texts, copy_texts, params.min_containment)
    shingled: dict[tuple[int, int], list[AlignedPassage]] = {}
    for copy_passage, origin_passage, score in _rows(shared):
        key = (int(origin_of[origin_passage]), int(copy_of[copy_passage]))
        shingled.setdefault(key, []).append(
            spans.local(key, origin_passage, copy_passage, score, "shingles")
        )
    article_pairs = set(shingled)
    article_pairs.update((int(origin_of[o]), int(copy_of[c])) for c, o, _ in _rows(nearby))
    examined = sorted(article_pairs)
    found = []
    for o, c in examined:
        origin, copy = origins[o], candidates[c]
        if copy["source"] == origin["source"] or not _in_time(origin, copy, params):
            continue
        aligned = _one_to_one(shingled.get((o, c), []))
        if not aligned and (origin["lang"] != copy["lang"] or origin["lang"] is None):
            aligned = spans.embedding_alignment(o, c, calibration)
        result = _accept(params, calibration, origin, copy, aligned)
        if result is not None:
            found.append(result)
    direct = _best_origin_per_copy(found)
    pivot_gap = params.pivot_gap()
    if pivot_gap is None:
        return direct
    pivot = _Pivot(params, calibration, pivot_gap, origins, candidates, spans)
    return direct + pivot.copies(direct, examined)


class _Pivot:
    """Step 5: candidates no origin matched, found through a direct copy of one (the via)."""

    def __init__(
        self,
        params: LaunderingParams,
        calibration: Calibration,
        min_gap: float,
        origins: list[dict[str, Any]],
        candidates: list[dict[str, Any]],
        spans: _Spans,
    ) -> None:
        self.params, self.calibration, self.min_gap = params, calibration, min_gap
        self.origins, self.candidates, self.spans = origins, candidates, spans
        self.number = {item["id"]: n for n, item in enumerate(candidates)}

    def copies(self, direct: list[Copy], examined: list[tuple[int, int]]) -> list[Copy]:
        """Copies through the vias in ``direct``, among the (origin, candidate) article pairs
        of ``examined`` that no origin matched: a candidate must resemble the origin itself
        (its passages among each other's nearest) before another copy can confirm it."""
        matched = {pair.copy["id"] for pair in direct}
        vias: dict[str, list[Copy]] = {}
        for pair in sorted(direct, key=lambda p: p.copy["id"]):
            vias.setdefault(pair.origin["id"], []).append(pair)
        found = [
            result
            for o, c in examined
            if self.candidates[c]["id"] not in matched
            for via in vias.get(self.origins[o]["id"], [])
            if (result := self._through(via, self.candidates[c])) is not None
        ]
        return _best_origin_per_copy(found)

    def _through(self, via: Copy, candidate: dict[str, Any]) -> Copy | None:
        """The candidate as a copy of the via's origin, if its alignment with the via reaches
        enough of the origin."""
        origin, params = via.origin, self.params
        if candidate["source"] == via.copy["source"] or not _in_time(origin, candidate, params):
            return None
        if origin["lang"] is not None and candidate["lang"] == origin["lang"]:
            return None  # within one language, copying shows in shared wording (step 2)
        starts = self.spans.copy_start
        v, c = self.number[via.copy["id"]], self.number[candidate["id"]]
        cosines = (
            self.spans.copy_vectors[starts[v] : starts[v + 1]]
            @ self.spans.copy_vectors[starts[c] : starts[c + 1]].T
        )
        origin_passage = {a.copy_passage: a.origin_passage for a in via.aligned}
        aligned = [
            AlignedPassage(origin_passage[row], column, cosine, "pivot")
            for row, column, cosine, _ in specific_alignment(
                cosines, self.calibration.min_cosine, self.min_gap
            )
            if row in origin_passage
        ]
        return _accept(self.params, self.calibration, origin, candidate, aligned, via.copy)


def _best_origin_per_copy(found: list[Copy]) -> list[Copy]:
    """Each copy with the origin it reuses most (coverage × similarity, ties by id): a piece
    translated from one state article also resembles that outlet's other articles on the same
    story, which are not its source."""
    best: dict[str, Copy] = {}
    for pair in found:
        key = pair.copy["id"]
        current = best.get(key)
        if current is None or _strength(pair) > _strength(current):
            best[key] = pair
    return [pair for pair in found if best[pair.copy["id"]] is pair]


def _strength(pair: Copy) -> tuple[float, str, str]:
    via = pair.via["id"] if pair.via else ""
    return (pair.origin_coverage * pair.similarity, pair.origin["id"], via)


def _flatten(items: list[dict[str, Any]]) -> tuple[np.ndarray, list[str]]:
    """Item number of each passage, and the passages, item after item."""
    owner = np.repeat(np.arange(len(items)), [len(i["passages"]) for i in items])
    return owner, [p for item in items for p in item["passages"]]


def _epoch(items: list[dict[str, Any]], owner: np.ndarray) -> np.ndarray:
    """The publication time (epoch seconds) of each passage's article."""
    times = np.array([item["published_at"].timestamp() for item in items], dtype=np.float64)
    return times[owner] if len(owner) else np.zeros(0)


def _rows(table: pa.Table) -> list[tuple[int, int, float]]:
    """(copy passage, origin passage, similarity) rows of a match table."""
    return list(zip(
        table.column("copy").to_pylist(), table.column("origin").to_pylist(),
        table.column("similarity").to_pylist(), strict=True,
    ))  # fmt: skip


class _Spans:
    """Where each article's passages sit in the flat passage lists, and their vectors."""

    def __init__(
        self,
        origins: list[dict[str, Any]],
        candidates: list[dict[str, Any]],
        origin_vectors: np.ndarray,
        copy_vectors: np.ndarray,
    ) -> None:
        self.origin_start = _starts(origins)
        self.copy_start = _starts(candidates)
        self.origin_vectors, self.copy_vectors = origin_vectors, copy_vectors

    def local(
        self, key: tuple[int, int], origin_passage: int, copy_passage: int, score: float,
        method: str,
    ) -> AlignedPassage:  # fmt: skip
        """A flat passage pair as passage numbers within its two articles."""
        o, c = key
        return AlignedPassage(
            origin_passage - int(self.origin_start[o]), copy_passage - int(self.copy_start[c]),
            float(score), method,
        )  # fmt: skip

    def embedding_alignment(self, o: int, c: int, calibration: Calibration) -> list[AlignedPassage]:
        """The specific passage alignment of origin ``o`` with candidate ``c``."""
        rows = self.origin_vectors[self.origin_start[o] : self.origin_start[o + 1]]
        columns = self.copy_vectors[self.copy_start[c] : self.copy_start[c + 1]]
        return [
            AlignedPassage(i, j, cosine, "embedding")
            for i, j, cosine, _ in specific_alignment(
                rows @ columns.T, calibration.min_cosine, calibration.min_gap
            )
        ]


def _starts(items: list[dict[str, Any]]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(i["passages"]) for i in items])]).astype(np.int64)


def _accept(
    params: LaunderingParams,
    calibration: Calibration,
    origin: dict[str, Any],
    copy: dict[str, Any],
    aligned: list[AlignedPassage],
    via: dict[str, Any] | None = None,
) -> Copy | None:
    """The pair as a ``Copy`` when its alignment covers enough of the origin."""
    needed = min(params.min_aligned_passages, len(origin["passages"]))
    origin_coverage = _coverage(origin["passages"], {a.origin_passage for a in aligned})
    if not aligned or len(aligned) < needed or origin_coverage < calibration.min_origin_coverage:
        return None
    copy_coverage = _coverage(copy["passages"], {a.copy_passage for a in aligned})
    names = outlet_names(origin["source"], origin["source_name"], origin["source_domain"])
    credit = check(f"{copy['title'] or ''}\n{copy['text']}", names, origin["url"])
    weights = [len(origin["passages"][a.origin_passage]) for a in aligned]
    similarity = float(np.average([a.similarity for a in aligned], weights=weights))
    return Copy(
        origin, copy, tuple(sorted(aligned, key=lambda a: a.origin_passage)),
        origin_coverage, copy_coverage, similarity,
        credit.attributed, credit.named_as, credit.credit_line, via,
    )  # fmt: skip


def _in_time(origin: dict[str, Any], copy: dict[str, Any], params: LaunderingParams) -> bool:
    published: datetime = origin["published_at"]
    return published < copy["published_at"] <= published + timedelta(days=params.max_lag_days)


def _one_to_one(matched: list[AlignedPassage]) -> list[AlignedPassage]:
    """Greedy alignment, strongest pair first: each passage of either side used once."""
    used_origin: set[int] = set()
    used_copy: set[int] = set()
    aligned = []
    for pair in sorted(matched, key=lambda a: (-a.similarity, a.origin_passage, a.copy_passage)):
        if pair.origin_passage in used_origin or pair.copy_passage in used_copy:
            continue
        used_origin.add(pair.origin_passage)
        used_copy.add(pair.copy_passage)
        aligned.append(pair)
    return aligned


def _coverage(texts: list[str], covered: set[int]) -> float:
    total = sum(len(t) for t in texts)
    return sum(len(texts[i]) for i in covered) / total if total else 0.0
