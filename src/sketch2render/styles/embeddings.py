"""CLIP embeddings for retrieval, as a LangChain `Embeddings`.

Text and images go into one space (CLIP's joint embedding), L2-normalised, so a dot product
is a cosine. The model is loaded on first use, under a lock; repeated query texts come from a
bounded LRU cache (cachetools). Not here: the style store (library.py) and the IP-Adapter image
encoder (render/renderer.py), which is a different CLIP.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from cachetools import LRUCache
from langchain_core.embeddings import Embeddings
from PIL import Image

from ..errors import InvalidImage


class ImageTextEmbeddings(Protocol):
    """What retrieval and quality scores need of a joint text-image embedding model."""

    model_name: str

    def embed_query(self, text: str) -> list[float]: ...

    def embed_pil(self, images: Sequence[Image.Image]) -> list[list[float]]: ...


def _batched(items: Sequence[Any], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CLIPEmbeddings(Embeddings):
    """LangChain embeddings backed by a Hugging Face CLIP (dual tower) model."""

    def __init__(
        self,
        model: str = "openai/clip-vit-base-patch32",
        *,
        device: str = "cpu",
        batch_size: int = 32,
        cache_size: int = 1024,
        local_files_only: bool = False,
    ) -> None:
        self.model_name = str(model)
        self.device = device
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.local_files_only = local_files_only
        self._lock = threading.RLock()
        self._loaded: tuple[Any, Any, Any] | None = None
        self._cache: LRUCache[str, list[float]] | None = LRUCache(cache_size) if cache_size else None
        self.cache_hits = 0

    # --- loading -------------------------------------------------------------------------
    def _components(self) -> tuple[Any, Any, Any]:
        with self._lock:
            if self._loaded is None:
                from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

                kwargs = {"local_files_only": self.local_files_only}
                model = CLIPModel.from_pretrained(self.model_name, use_safetensors=True, **kwargs)
                model = model.to(self.device).eval()
                tokenizer = CLIPTokenizer.from_pretrained(self.model_name, **kwargs)
                processor = CLIPImageProcessor.from_pretrained(self.model_name, **kwargs)
                self._loaded = (model, tokenizer, processor)
            return self._loaded

    def load(self) -> CLIPEmbeddings:
        """Load the model now (the API's lifespan does this; otherwise it happens on first use)."""
        self._components()
        return self

    @property
    def dimension(self) -> int:
        model, _, _ = self._components()
        return int(model.config.projection_dim)

    # --- the maths -----------------------------------------------------------------------
    @staticmethod
    def _normalise(features: Any) -> list[list[float]]:
        import torch

        if not isinstance(features, torch.Tensor):  # transformers 5 returns a model output
            features = features.pooler_output  # whose pooler_output is the projected embedding
        features = torch.nn.functional.normalize(features.float(), dim=-1)
        return features.cpu().tolist()

    def _encode_texts(self, texts: Sequence[str]) -> list[list[float]]:
        import torch

        model, tokenizer, _ = self._components()
        out: list[list[float]] = []
        with self._lock, torch.inference_mode():
            for batch in _batched(list(texts), self.batch_size):
                inputs = tokenizer(list(batch), padding=True, truncation=True, max_length=77, return_tensors="pt").to(
                    self.device
                )
                out.extend(self._normalise(model.get_text_features(**inputs)))
        return out

    def embed_pil(self, images: Sequence[Image.Image]) -> list[list[float]]:
        """Embed already-decoded images (RGB)."""
        import torch

        model, _, processor = self._components()
        out: list[list[float]] = []
        with self._lock, torch.inference_mode():
            for batch in _batched(list(images), self.batch_size):
                pixels = processor(images=[im.convert("RGB") for im in batch], return_tensors="pt")
                pixels = pixels["pixel_values"].to(self.device)
                out.extend(self._normalise(model.get_image_features(pixel_values=pixels)))
        return out

    # --- LangChain's Embeddings interface --------------------------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode_texts(texts) if texts else []

    def embed_query(self, text: str) -> list[float]:
        if self._cache is None:
            return self._encode_texts([text])[0]
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self.cache_hits += 1
                return list(cached)
        vector = self._encode_texts([text])[0]
        with self._lock:
            self._cache[text] = vector
        return list(vector)

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """Embed image files by path (the image-embedding signature LangChain vector stores call)."""
        images = []
        for uri in uris:
            try:
                with Image.open(Path(uri)) as im:
                    images.append(im.convert("RGB"))
            except (OSError, ValueError) as exc:
                raise InvalidImage(f"cannot read image {Path(uri).name}: {exc}") from exc
        return self.embed_pil(images)
