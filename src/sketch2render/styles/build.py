"""Builders of the retrieval side: the CLIP embeddings and the style library (on this machine's
disk, or on a shared Chroma server with `S2R_CHROMA_URL`). The only place they are constructed;
nothing loads at import time."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ..config import Settings
from ..models import ModelSet, resolve_device
from ..models.library_logs import quiet_libraries
from ..retrieval.answer_cache import Answers
from ..retrieval.learning import build_learning
from .embeddings import CLIPEmbeddings
from .library import StyleLibrary

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


def build_embeddings(settings: Settings, models: ModelSet) -> CLIPEmbeddings:
    quiet_libraries()
    return CLIPEmbeddings(
        models.clip,
        device=resolve_device(settings),
        cache_size=settings.query_cache_size,
        local_files_only=models.local_files_only,
    )


def build_library(
    settings: Settings, embeddings: CLIPEmbeddings, models: ModelSet | None = None, *, answers: Answers | None = None
) -> StyleLibrary:
    """`answers`: the search-answer cache of the render side's `Caches` (render/caches.py); None: one of
    the library's own while S2R_CACHES is on."""
    if answers is None and settings.caches == "on":
        answers = Answers()
    client = blobs = None
    if settings.chroma_url:  # a shared Chroma server holds the index and the bytes (blobs.py)
        from .blobs import ChromaBlobs

        client = build_chroma_client(settings.chroma_url)
        blobs = ChromaBlobs(client)
    library = StyleLibrary(
        settings.styles_dir,
        embeddings,
        client=client,
        blobs=blobs,
        limits=settings.limits,
        dense_weight=dense_weight(settings, models),
        lexical_weight=settings.lexical_weight,
        rrf_k=settings.rrf_k,
        answers=answers,
    )
    library.learning = build_learning(settings)  # loads the sentence model on its first use
    return library


def build_chroma_client(url: str) -> ClientAPI:
    """A client for a shared Chroma server (S2R_CHROMA_URL=http://host:port)."""
    import chromadb

    parsed = urlparse(url)
    return chromadb.HttpClient(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 8000,
        ssl=parsed.scheme == "https",
        settings=chromadb.config.Settings(anonymized_telemetry=False),
    )


def dense_weight(settings: Settings, models: ModelSet | None) -> float:
    """The CLIP side's weight in hybrid search. A smoke-test (random) CLIP carries no meaning, so
    unless set explicitly its weight is 0 there and retrieval runs on words alone."""
    if settings.dense_weight is not None:
        return settings.dense_weight
    return 0.0 if models is not None and models.smoke_test else 1.0
