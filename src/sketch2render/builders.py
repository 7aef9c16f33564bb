"""Builders: the only place models and stores are constructed (never at import time)."""

from __future__ import annotations

from typing import Any

from .config import Settings


def quiet_libraries() -> None:
    """Keep library chatter (progress bars, the no-torchvision notice) out of our output."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=".*requires torchvision.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="diffusers")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for lib in (diffusers_logging, transformers_logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def build_embeddings(settings: Settings, models: Any):
    quiet_libraries()
    from .embeddings import CLIPEmbeddings

    return CLIPEmbeddings(
        models.clip,
        device=settings.resolved_device(),
        cache_size=settings.query_cache_size,
        local_files_only=models.local_files_only,
    )


def build_library(settings: Settings, embeddings: Any, models: Any = None):
    from .styles import StyleLibrary

    client = blobs = None
    if settings.chroma_url:  # a shared Chroma server holds the index and the bytes (blobs.py)
        from .blobs import ChromaBlobs

        client = build_chroma_client(settings.chroma_url)
        blobs = ChromaBlobs(client)
    return StyleLibrary(
        settings.styles_dir,
        embeddings,
        client=client,
        blobs=blobs,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_side=settings.max_side,
        dense_weight=dense_weight(settings, models),
        lexical_weight=settings.lexical_weight,
        rrf_k=settings.rrf_k,
    )


def build_chroma_client(url: str):
    """A client for a shared Chroma server (S2R_CHROMA_URL=http://host:port)."""
    from urllib.parse import urlparse

    import chromadb

    parsed = urlparse(url)
    return chromadb.HttpClient(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 8000,
        ssl=parsed.scheme == "https",
        settings=chromadb.config.Settings(anonymized_telemetry=False),
    )


def build_renderer(settings: Settings, models: Any):
    from .generation import Renderer

    quiet_libraries()

    return Renderer.from_models(models, settings)


def dense_weight(settings: Settings, models: Any) -> float:
    """The CLIP side's weight in hybrid search. A smoke-test (random) CLIP carries no meaning, so
    unless set explicitly its weight is 0 there and retrieval runs on words alone."""
    if settings.dense_weight is not None:
        return settings.dense_weight
    return 0.0 if models is not None and models.smoke_test else 1.0
