"""Control images made from the sketch itself: what ControlNet follows. A sketch *is* a line
drawing, so no annotator network is needed — only OpenCV on the strokes (no torch here: the web
UI previews these too).

- `canny`: Canny edges (imaging.detect_edges), the seed's behaviour. A pen line becomes its two
  borders, and hatching becomes dense texture.
- `lineart`: the strokes themselves, one ridge per stroke, white on black, anti-aliasing kept.
  Strokes thicker than the target width (~render size / 200) are thinned to their centre line and
  redrawn at that width, so a thick marker and a fine pen give the ControlNet the same kind of line.
- `scribble`: strokes thresholded (Otsu) and thickened to ~render size / 170: for rough sketches,
  where only the gist of each line should hold.
- `softedge`: the stroke map blurred into soft ridges: for loose drawings, where ControlNet should
  follow the shapes without copying every wobble.
- `auto`: measures the sketch (`measure`) and picks one (`choose`; the rule is in the README).
- `simplify` (0–1): removes fine parallel hatching and shading while keeping outlines: fine strokes
  in regions of dense ink are dropped; heavier strokes (outlines) and lone fine strokes stay.

Every map is HxW uint8 (255 = line), built at the render size, and carries a `reference`: the
line mask quality scores compare a render against (the edges for canny, the strokes otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from ..errors import NoEdges
from ..schemas import ControlChoice
from .imaging import EdgeMap, detect_edges, gray_to_rgb, is_light_on_dark

ControlType = Literal["canny", "lineart", "scribble", "softedge"]
CONTROL_TYPES: tuple[ControlType, ...] = ("canny", "lineart", "scribble", "softedge")
MIN_INK_FRACTION = 0.0005  # as for Canny: a sketch with (almost) nothing on it is refused

# auto's thresholds (measured on the bundled sketches and synthetic drawings; README "Control types")
PHOTO_PAPER = 0.40  # share of pixels near the brightest tone: under it, a photo or painting, not ink on paper
HATCHED_SHARE = 0.09  # share of the ink that is fine strokes in dense regions: shading or hatching
ROUGH_WIDTH = 1 / 90  # stroke width over the render size: a marker or a brush, not a pen


@dataclass(frozen=True, eq=False)
class ControlMap:
    kind: ControlType
    image: np.ndarray  # HxW uint8, 255 = line (read-only)
    reference: np.ndarray  # HxW bool: the lines quality scores compare against
    summary: dict = field(default_factory=dict)  # what the recipe records

    def control_image(self) -> Image.Image:
        """3-channel RGB, white lines on black: ControlNet's input."""
        return gray_to_rgb(self.image)


# --------------------------------------------------------------------------- strokes
def ink(image: Image.Image) -> np.ndarray:
    """How much ink each pixel holds, 0..1 (light-on-dark sketches are inverted first), with the
    paper's own shade removed (a 99th-percentile stretch over a local background)."""
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    if is_light_on_dark(gray):
        gray = 255 - gray
    paper = cv2.dilate(gray, np.ones((15, 15), np.uint8))  # the local background (strokes removed)
    dark = np.clip(paper.astype(np.float32) - gray.astype(np.float32), 0, 255)
    top = float(np.percentile(dark[dark > 8], 99)) if np.count_nonzero(dark > 8) else 0.0
    return np.clip(dark / max(top, 32.0), 0.0, 1.0)


def strokes(amount: np.ndarray) -> np.ndarray:
    """The stroke mask: ink above Otsu's threshold (and above a floor, so blank paper stays blank)."""
    scaled = (amount * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return scaled > max(otsu, 64)


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Centre lines of a mask (morphological skeleton: what each erosion step leaves behind)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    current = mask.astype(np.uint8)
    out = np.zeros_like(current)
    while current.any():
        eroded = cv2.erode(current, kernel)
        out |= current & ~cv2.dilate(eroded, kernel)
        current = eroded
    return out.astype(bool)


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the distance to the paper along the centre lines."""
    if not mask.any():
        return 0.0
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    centre = skeleton(mask)
    return float(2 * np.median(distance[centre])) if centre.any() else 1.0


def _disc(diameter: float) -> np.ndarray:
    size = max(1, int(round(diameter)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


# --------------------------------------------------------------------------- simplify
def dense_regions(mask: np.ndarray, strength: float, size: int) -> np.ndarray:
    """Where ink is dense (hatching, cross-hatching, shading): over 15 % of a window of
    ~size/64 px (larger with `strength`) is ink."""
    window = int(round(3 + (0.5 + strength) * size / 64)) | 1
    density = cv2.blur(mask.astype(np.float32), (window, window))
    return density > 0.15


def hatching(mask: np.ndarray, strength: float) -> np.ndarray:
    """Fine strokes (thinner than ~1 + 2·strength px: what a morphological opening removes) where ink
    is dense: hatching and shading, not outlines (heavier) nor lone fine details (not dense)."""
    heavy = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, _disc(1 + 2 * strength))
    fine = mask & ~cv2.dilate(heavy, _disc(3)).astype(bool)
    dense = cv2.dilate(dense_regions(mask, strength, max(mask.shape)).astype(np.uint8), _disc(3))
    return fine & dense.astype(bool)


def simplify(amount: np.ndarray, strength: float) -> np.ndarray:
    """Hatching and shading suppressed (`hatching`), outlines and details kept."""
    if strength <= 0:
        return amount
    return np.where(hatching(strokes(amount), strength), 0.0, amount)


# --------------------------------------------------------------------------- the maps
def lineart_map(amount: np.ndarray) -> np.ndarray:
    size = max(amount.shape)
    mask = strokes(amount)
    target = max(1.5, size / 200)
    width = stroke_width(mask)
    if width <= target * 1.5:  # already fine lines: keep them exactly, anti-aliasing included
        line = amount
    else:  # thick strokes: their centre lines, redrawn at the target width, softly
        centre = skeleton(mask).astype(np.uint8) * 255
        line = cv2.dilate(centre, _disc(target)).astype(np.float32) / 255
        line = cv2.GaussianBlur(line, (3, 3), 0.6)
    return np.clip(line * 255, 0, 255).astype(np.uint8)


def scribble_map(amount: np.ndarray) -> np.ndarray:
    size = max(amount.shape)
    mask = strokes(amount).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _disc(2))  # specks and paper grain out
    return cv2.dilate(mask * 255, _disc(max(2.0, size / 170)))


def softedge_map(amount: np.ndarray) -> np.ndarray:
    size = max(amount.shape)
    line = cv2.dilate((amount * 255).astype(np.uint8), _disc(max(1.0, size / 256)))
    sigma = max(1.0, size / 170)
    soft = cv2.GaussianBlur(line.astype(np.float32), (0, 0), sigma)
    top = float(soft.max()) or 1.0
    return np.clip(soft / top * 255, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- auto
def measure(image: Image.Image) -> dict[str, float]:
    """What auto decides on: paper share (low: photo-like), dense-ink share (hatched or shaded), stroke
    width relative to the image (rough), and the ink fraction."""
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    amount = ink(image)
    mask = strokes(amount)
    size = max(mask.shape)
    inked = int(mask.sum())
    paper = float(np.mean(gray >= np.percentile(gray, 95) - 25))
    return {
        "paper": round(paper, 4),
        "hatched": round(float(hatching(mask, 0.5).sum()) / inked, 4) if inked else 0.0,
        "stroke_width": round(stroke_width(mask) / size, 5),
        "ink": round(inked / mask.size, 5),
    }


def choose(measures: dict[str, float]) -> ControlType:
    """photo-like -> canny; hatched or shaded -> softedge; rough strokes -> scribble; else lineart."""
    if measures["paper"] < PHOTO_PAPER:
        return "canny"
    if measures["hatched"] > HATCHED_SHARE:
        return "softedge"
    if measures["stroke_width"] > ROUGH_WIDTH:
        return "scribble"
    return "lineart"


# --------------------------------------------------------------------------- entry point
def control_map(
    image: Image.Image,
    kind: ControlChoice = "canny",
    *,
    simplify_strength: float = 0.0,
    canny_low: int | None = None,
    canny_high: int | None = None,
    available: Sequence[str] = CONTROL_TYPES,
) -> ControlMap:
    """The control image of a sketch already resized to the render size. `auto` chooses among the
    `available` types (those the loaded models have a ControlNet for), falling back to canny."""
    # 1. auto: measure, then choose.
    summary: dict = {"requested": kind}
    if kind == "auto":
        measures = measure(image)
        kind = choose(measures)
        summary["measures"] = measures
        if kind not in available:
            summary["fallback"] = f"auto chose {kind}, but no {kind} ControlNet is loaded here: canny instead"
            kind = "canny"
    summary["type"] = kind
    summary["simplify"] = simplify_strength
    # 2. canny: the seed's path, on the simplified sketch when asked.
    if kind == "canny":
        source = image
        if simplify_strength > 0:
            cleaned = simplify(ink(image), simplify_strength)
            source = Image.fromarray((255 - cleaned * 255).astype(np.uint8)).convert("RGB")
        edges: EdgeMap = detect_edges(source, low=canny_low, high=canny_high)
        summary.update(edges.summary())
        return ControlMap("canny", edges.edges, edges.edges > 0, summary)
    # 3. the stroke-based maps.
    amount = simplify(ink(image), simplify_strength)
    mask = strokes(amount)
    if mask.mean() < MIN_INK_FRACTION:
        raise NoEdges("no strokes found in the sketch; is it blank?")
    built = {"lineart": lineart_map, "scribble": scribble_map, "softedge": softedge_map}[kind](amount)
    built.flags.writeable = False
    summary["line_fraction"] = round(float(np.mean(built > 127)), 6)
    return ControlMap(kind, built, mask, summary)
