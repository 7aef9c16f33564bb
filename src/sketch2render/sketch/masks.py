"""Masks: region masks of a render and the masks of region edits (no torch).

A mask file is any image the upload limits accept. Where it has transparency, the opaque pixels
are the mask (paint on a transparent layer, as the web UI sends it); otherwise the light pixels
(grey level above 127: white on black). A mask must have the size of the image it belongs to (the
sketch of a render, the parent's image of an edit) and must not be empty: both are 422s naming
the field. `feather` and `band` are the soft edge of an edit and the band around it in which
pixels may change; outside the band an edit keeps its parent's pixels exactly (render/inpaint.py).
"""

from __future__ import annotations

import hashlib
import io

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..config import UploadLimits
from ..errors import InvalidParameter
from .imaging import decode_upload

THRESHOLD = 127  # a pixel is in the mask above this grey (or alpha) level


def mask_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_mask(data: bytes, limits: UploadLimits, *, size: tuple[int, int], field: str) -> Image.Image:
    """A binary mask ("L", 0 or 255) of exactly `size`, or a 422 naming `field`."""
    decode_upload(data, limits)  # every safety check of an upload (format, bytes, pixels, corrupt data)
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.size != tuple(size):
        raise InvalidParameter(
            f"{field}: the mask is {image.width}x{image.height}, it must match the image ({size[0]}x{size[1]})",
            field=field,
        )
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    values = np.asarray(image.convert("RGBA"))[..., 3] if has_alpha else np.asarray(image.convert("L"))
    binary = values > THRESHOLD
    if not binary.any():
        raise InvalidParameter(f"{field}: the mask is empty (no pixel is set)", field=field)
    return Image.fromarray((binary * 255).astype(np.uint8), mode="L")


def resize_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A mask at another size, still binary (nearest neighbour)."""
    return mask if mask.size == tuple(size) else mask.resize(size, Image.Resampling.NEAREST)


def area(mask: Image.Image) -> float:
    """The fraction of the image a mask covers."""
    return float((np.asarray(mask) > THRESHOLD).mean())


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """A boolean mask grown by `radius` pixels (a disc)."""
    if radius <= 0:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def feather(mask: Image.Image, radius: int) -> np.ndarray:
    """Blend weights in [0, 1]: 1 inside the mask, falling to 0 within `radius` pixels outside it,
    and exactly 0 beyond (so pixels past the band keep the parent's values)."""
    inside = np.asarray(mask) > THRESHOLD
    if radius <= 0:
        return inside.astype(np.float32)
    distance = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(1.0 - distance / float(radius), 0.0, 1.0).astype(np.float32)
