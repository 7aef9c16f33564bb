"""The sketch side of the Render page, without Streamlit: canvas pixels to PNG, and the edge
preview (what ControlNet will follow) computed locally with `imaging` (numpy/OpenCV/PIL only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import imaging
from ..config import Settings
from ..control import ControlMap, control_map
from ..schemas import ControlChoice


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


def edge_preview(
    data: bytes, size: int, settings: Settings, control: ControlChoice = "canny", simplify: float = 0.0
) -> EdgePreview:
    """Decode (with the API's limits), resize to the output size and build the control image the
    server will build (control.py); raises a domain error (`errors.S2RError`) with a readable
    message when the sketch cannot be used."""
    # decoded as the server's pipeline decodes it, so the preview matches
    image = imaging.decode_upload(data, settings.limits, at_least=size)
    resized = imaging.resize_for_generation(image, size)
    built = control_map(resized, control, simplify_strength=simplify)
    caption = f"{resized.width}×{resized.height} · {describe(built)}"
    return EdgePreview(imaging.encode_png(resized), imaging.encode_png(built.control_image()), caption)


def describe(built: ControlMap) -> str:
    """One line on a control map: its type (and why, for auto), thresholds or line coverage."""
    s = built.summary
    text = built.kind
    if s.get("requested") == "auto":
        m = s.get("measures", {})
        text = f"auto → {built.kind} (paper {m.get('paper', 0):.0%}, hatching {m.get('hatched', 0):.0%})"
        if s.get("fallback"):
            text += " · " + s["fallback"]
    if built.kind == "canny":
        text += f" · Canny {s['low']}/{s['high']} · {s['edge_fraction']:.1%} edges"
        if s.get("inverted"):
            text += " · light-on-dark, inverted"
    else:
        text += f" · {s['line_fraction']:.1%} lines"
    if s.get("simplify"):
        text += f" · simplified {s['simplify']:.0%}"
    return text
