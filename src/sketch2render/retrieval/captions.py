"""Caption meaning: the sentence model's cosine between a prompt and each style's caption.

A style's caption is its title, tags and description, embedded once by the sentence model
(all-MiniLM-L6-v2, models/sentence.py) and cached by caption text, so an edit or a new style is
embedded on the next search. CLIP compares a prompt with the *image*; BM25 with the caption's
*words*; this list compares it with the caption's *meaning* ("swirling stars above a hamlet"
finds the style described as "swirling night sky over a village"). Also the query-vector cache
that the feedback list shares. Left out: the creator's name (meaningless to the model).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import numpy as np

from ..schemas import StyleRecord


class SentenceEncoder(Protocol):
    """What the learned lists need of a sentence model (models/sentence.py's `SentenceModel`)."""

    stand_in: bool

    def encode(self, sentences: list[str], batch_size: int = 64) -> np.ndarray: ...


def caption_of(record: StyleRecord) -> str:
    parts = [record.title, ", ".join(record.tags), record.description]
    return ". ".join(p.strip() for p in parts if p and p.strip())


class SentenceVectors:
    """The loaded-on-first-use sentence model and an LRU cache of the texts it embedded."""

    def __init__(self, load: Callable[[], SentenceEncoder], cache_size: int = 4096) -> None:
        self._load = load
        self._model: SentenceEncoder | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceEncoder:
        if self._model is None:
            self._model = self._load()  # the builder caches it per process
        return self._model

    def embed(self, texts: Iterable[str]) -> np.ndarray:
        """One unit row per text (from the cache when seen before)."""
        texts = list(texts)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self.model.encode(missing)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = vector
                while len(self._cache) > max(self._size, len(texts)):
                    self._cache.popitem(last=False)
        with self._lock:
            rows = [self._cache[t] for t in texts]
            for t in texts:
                self._cache.move_to_end(t)
        return np.stack(rows) if rows else np.zeros((0, 1), dtype=np.float32)


def caption_scores(
    vectors: SentenceVectors,
    query_vector: np.ndarray,
    records: Mapping[str, StyleRecord],
    allowed: set[str] | None,
    limit: int,
) -> dict[str, float]:
    """Cosine of the prompt with each allowed style's caption, the `limit` best (positive only)."""
    ids = [i for i in records if allowed is None or i in allowed]
    if not ids:
        return {}
    sims = vectors.embed(caption_of(records[i]) for i in ids) @ query_vector
    order = np.argsort(-sims, kind="stable")[:limit]
    return {ids[j]: float(sims[j]) for j in order if sims[j] > 0}
