"""The sketch side of the Render page, without Streamlit: canvas pixels to PNG, and the edge
preview (what ControlNet will follow) computed locally by the server's own sketch preparation
(`sketch/prepare.py`: numpy/OpenCV/PIL only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..config import Settings
from ..schemas import ControlChoice, RenderParams
from ..sketch import imaging
from ..sketch.control import CONTROL_TYPES, ControlMap
from ..sketch.prepare import prepare_sketch

PREVIEW_PROMPT = "preview"  # RenderParams needs a prompt; the sketch's preparation never reads it


@dataclass(frozen=True)
class EdgePreview:
    sketch_png: bytes  # the sketch resized as the server resizes it
    control_png: bytes  # the control image, as ControlNet receives it
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
    server will build (`prepare_sketch`, as the API's POST and the render pipeline); raises a domain
    error (`errors.S2RError`) with a readable message when the sketch cannot be used. The UI does
    not know the server's ControlNets: `auto` previews its own choice (every type available)."""
    params = RenderParams(prompt=PREVIEW_PROMPT, size=size, control=control, simplify=simplify)
    prepared = prepare_sketch(data, params, settings.limits, available=CONTROL_TYPES)
    resized, built = prepared.image, prepared.control
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
