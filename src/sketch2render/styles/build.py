"""Builders of the style store: the CLIP embeddings and the style library (on this machine's
disk, or on a shared Chroma server with `S2R_CHROMA_URL`; its collections in the database
`S2R_DATABASE_URL` names, else in a SQLite file beside the styles). The only place they are constructed;
nothing loads at import time. The search over it is built by `retrieval.build_search`."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ..config import Settings
from ..models import ModelSet, resolve_device
from ..models.library_logs import quiet_libraries
from .collections import COLLECTIONS_FILE
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


def build_library(settings: Settings, embeddings: CLIPEmbeddings) -> StyleLibrary:
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
        limits=settings.limits,
        collections_url=settings.store_url(settings.styles_dir / COLLECTIONS_FILE),
    )


def build_chroma_client(url: str) -> ClientAPI:
    """A client for a shared Chroma server (S2R_CHROMA_URL=http://host:port) whose calls time out
    rather than hang (chroma_link.py); a server that cannot be reached raises `ChromaUnavailable`."""
    import chromadb

    from .chroma_link import chroma_calls_to, unreachable, with_timeouts

    parsed = urlparse(url)
    with chroma_calls_to(url):  # the client asks the server for its tenant and database
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname or "127.0.0.1",
                port=parsed.port or 8000,
                ssl=parsed.scheme == "https",
                settings=chromadb.config.Settings(anonymized_telemetry=False),
            )
        except ValueError as exc:  # chromadb's words for "could not connect"
            raise unreachable(url, exc) from None
    return with_timeouts(client)
