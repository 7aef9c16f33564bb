"""Deterministic stand-ins for fast unit tests (the real tiny models are used elsewhere)."""

from __future__ import annotations

import hashlib

import numpy as np
from langchain_core.embeddings import Embeddings

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


def _unit(v) -> list[float]:
    v = np.asarray(v, dtype=float)
    return (v / (np.linalg.norm(v) or 1.0)).tolist()


class FakeEmbeddings(Embeddings):
    """Colour-aware: an image embeds as its mean RGB (+ a small hash part), a text naming a
    colour embeds as that colour. So "red" retrieves the reddest image, deterministically."""

    model_name = "fake-colour-embedder"
    dim = 8

    def __init__(self) -> None:
        self.image_calls = 0
        self.text_calls = 0

    def _hash_part(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [b / 2550.0 for b in digest[: self.dim - 3]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.text_calls += 1
        rgb = (0.0, 0.0, 0.0)
        for word, colour in COLOURS.items():
            if word in text.lower():
                rgb = colour
        return _unit([*rgb, *self._hash_part(text)])

    def embed_pil(self, images) -> list[list[float]]:
        out = []
        for im in images:
            self.image_calls += 1
            arr = np.asarray(im.convert("RGB"), dtype=float) / 255.0
            mean = arr.reshape(-1, 3).mean(axis=0)
            out.append(_unit([*mean, *self._hash_part(hashlib.sha256(arr.tobytes()).hexdigest())]))
        return out
