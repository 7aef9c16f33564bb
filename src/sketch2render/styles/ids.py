"""How the library names things: a style's id (a hash of its pixels), the Chroma collection of a
retrieval model, and the metadata key of a tag."""

from __future__ import annotations

import hashlib

from PIL import Image

COLLECTION_PREFIX = "s2r-styles-"


def collection_name(model_name: str) -> str:
    """Vectors from different CLIP models live apart: one collection per model."""
    return COLLECTION_PREFIX + hashlib.sha1(model_name.encode()).hexdigest()[:12]


def content_id(image: Image.Image) -> str:
    """The id of an image is a hash of its decoded pixels (same picture, same id)."""
    digest = hashlib.sha256(f"{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()[:16]


def tag_key(tag: str) -> str:
    return "tag:" + tag.strip().lower()
