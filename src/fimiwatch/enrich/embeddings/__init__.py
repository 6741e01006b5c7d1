"""Multilingual embeddings: pluggable backends (``backends.py``) and a per-store cache
(``cache.py``) so that each text is embedded once per model."""

from fimiwatch.enrich.embeddings.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    BackendError,
    EmbeddingBackend,
    load_backend,
)
from fimiwatch.enrich.embeddings.cache import embed_texts

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "BackendError",
    "EmbeddingBackend",
    "embed_texts",
    "load_backend",
]
