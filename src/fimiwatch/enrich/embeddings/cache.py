"""Embeddings computed once per (text, model) and kept in the store.

Embedding is the slowest step of content tracking (tens of texts per second per core for the
default model), so a vector is never computed twice: the store's ``embedding_cache`` table
holds one row per (model, MD5 of the text), and a run embeds only the texts it has not seen.
Slow in-process models run in one worker process per core.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pyarrow as pa

from fimiwatch.enrich.embeddings.backends import DEFAULT_BACKEND, CombinedBackend, load_backend
from fimiwatch.store import Store

Progress = Callable[[int], None]

BATCH = 32
"""Texts per call into a backend (and per task handed to a worker)."""
POOL_MIN_TEXTS = 256
"""Fewer new texts than this are embedded in-process: starting workers costs seconds."""


def embed_texts(
    store: Store,
    texts: list[str],
    backend: str = DEFAULT_BACKEND,
    progress: Progress | None = None,
) -> np.ndarray:
    """(len(texts), dimensions) unit vectors, from the cache where present; the others are
    embedded (each distinct text once) and stored before returning. A combined backend's
    parts are cached each under its own model, so they are shared with runs of either part;
    ``progress`` counts the first (slowest) part's texts."""
    model = load_backend(backend)
    if isinstance(model, CombinedBackend):
        return model.combine([
            embed_texts(store, texts, part, progress if index == 0 else None)
            for index, part in enumerate(model.parts)
        ])  # fmt: skip
    if not texts:
        return np.zeros((0, model.dimensions), dtype=np.float32)
    scratch = store.con.cursor()
    scratch.register("wanted_texts", pa.table({
        "position": pa.array(np.arange(len(texts))), "text": pa.array(texts, pa.string()),
    }))  # fmt: skip
    missing = [
        row[0]
        for row in scratch.execute(
            """
            SELECT DISTINCT w.text FROM wanted_texts w
            WHERE NOT EXISTS (SELECT 1 FROM embedding_cache c
                              WHERE c.model = ? AND c.text_hash = md5_number(w.text))
            ORDER BY w.text
            """,
            [model.model_id],
        ).fetchall()
    ]
    if missing:
        vectors = embed_uncached(backend, missing, model.processes, progress)
        scratch.register("new_vectors", pa.table({
            "text": pa.array(missing, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.reshape(-1), pa.float32()), model.dimensions
            ),
        }))  # fmt: skip
        scratch.execute(
            "INSERT OR IGNORE INTO embedding_cache "
            "SELECT ?, md5_number(text), CAST(vector AS FLOAT[]) "
            "FROM new_vectors",
            [model.model_id],
        )
        scratch.unregister("new_vectors")
    found = scratch.sql(
        """
        SELECT c.vector FROM wanted_texts w
        JOIN embedding_cache c ON c.model = $model AND c.text_hash = md5_number(w.text)
        ORDER BY w.position
        """,
        params={"model": model.model_id},
    ).to_arrow_table()
    scratch.unregister("wanted_texts")
    flat = found.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(len(texts), model.dimensions)


def _batches(texts: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(texts), BATCH):
        yield texts[start : start + BATCH]


def embed_uncached(
    backend: str, texts: list[str], processes: int, progress: Progress | None = None
) -> np.ndarray:
    """Embed every text, bypassing the cache, in ``processes`` workers (0: one per core).
    The raw throughput the benchmarks compare detectors with."""
    model = load_backend(backend)
    if isinstance(model, CombinedBackend):
        return model.combine([
            embed_uncached(part, texts, load_backend(part).processes, progress if i == 0 else None)
            for i, part in enumerate(model.parts)
        ])  # fmt: skip
    workers = processes or os.cpu_count() or 1
    parts: list[np.ndarray] = []
    if workers <= 1 or len(texts) < POOL_MIN_TEXTS:
        for batch in _batches(texts):
            parts.append(model.embed(batch))
            if progress:
                progress(len(batch))
    else:
        # spawn: DuckDB's and the models' threads make forking this process unsafe
        with ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=load_backend,
            initargs=(backend,),
        ) as pool:  # fmt: skip
            for vectors in pool.map(_embed_in_worker, [(backend, b) for b in _batches(texts)]):
                parts.append(vectors)
                if progress:
                    progress(len(vectors))
    return np.concatenate(parts)


def _embed_in_worker(task: tuple[str, list[str]]) -> np.ndarray:
    backend, texts = task
    return load_backend(backend).embed(texts)
