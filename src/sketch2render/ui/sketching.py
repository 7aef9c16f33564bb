"""The sketch side of the Render page, without Streamlit: canvas pixels to PNG, and the edge
preview (what ControlNet will follow) computed locally with `imaging` (numpy/OpenCV/PIL only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import imaging
from ..config import Settings


@dataclass(frozen=True)
class EdgePreview:
    sketch_png: bytes  # the sketch resized as the server resizes it
    edges_png: bytes  # white edges on black, as ControlNet receives them
    caption: str


def canvas_png(rgba: np.ndarray) -> bytes:
    """The canvas pixels (RGBA, background included) flattened onto white, as PNG bytes."""
    image = Image.fromarray(np.asarray(rgba, dtype=np.uint8)).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return imaging.encode_png(Image.alpha_composite(white, image).convert("RGB"))


def edge_preview(data: bytes, size: int, settings: Settings) -> EdgePreview:
    """Decode (with the API's limits), resize to the output size and detect edges; raises a
    domain error (`errors.S2RError`) with a readable message when the sketch cannot be used."""
    # decoded as the server's pipeline decodes it, so the preview matches
    image = imaging.decode_upload(data, settings.limits, at_least=size)
    resized = imaging.resize_for_generation(image, size)
    edges = imaging.detect_edges(resized)
    caption = f"{resized.width}×{resized.height} · Canny {edges.low}/{edges.high} · {edges.edge_fraction:.1%} edges"
    if edges.inverted:
        caption += " · light-on-dark, inverted"
    return EdgePreview(imaging.encode_png(resized), imaging.encode_png(edges.control_image()), caption)
