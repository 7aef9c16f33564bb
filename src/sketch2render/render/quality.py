"""Quality scores for a render: did it keep the sketch's geometry, take the style's look, and
show what the prompt asked for?

- *Structure fidelity*: the sketch's control edges against Canny edges of the render, matched
  within a pixel tolerance (distance transforms): precision (render edges near a sketch line),
  recall (sketch lines the render reproduced), F1, and the symmetric Chamfer distance.
- *Style similarity*: CLIP image-image cosine between the render and the style(s) used.
- *Prompt alignment*: CLIP text-image cosine between the prompt and the render.

Sizes: the tolerance is given at a reference of 512 px (longest side) and scaled to the render's
size, so precision, recall, F1 and the normalised Chamfer distance do not depend on the
resolution a drawing is rendered at; `chamfer_px` is in the render's pixels and does.
Each image's scores are an `ImageScores` (schemas.py), the recipe's `scores`.
Left out: learned perceptual scores (LPIPS, DINO), aesthetic scores, anything needing torch
here (CLIP arrives as the retrieval `CLIPEmbeddings`, or any `ImageTextEmbeddings`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import cv2
import numpy as np
from cachetools import LRUCache
from PIL import Image

from ..config import Settings
from ..schemas import ImageScores, StructureScores, StyleHit
from ..sketch import imaging
from ..styles.embeddings import ImageTextEmbeddings
from .ports import StyleImages

REFERENCE_SIDE = 512  # the tolerance is stated at this longest side and scaled from it
MIN_LOW, MIN_HIGH = 15, 30  # Canny floors: flat or dark renders must not turn noise into edges
OVERPOWERED = "the style overpowered the geometry; lower style strength or raise control strength"
UNFOLLOWED = "the render does not follow the sketch's lines; raise control strength"


def render_edges(image: Image.Image) -> np.ndarray:
    """Canny edges of a render (HxW bool), thresholds median ± 33 % as for sketches, with floors.
    A blank image has no edges (an empty mask, never an error)."""
    blurred = imaging.blurred_gray(image)
    low, high = imaging.auto_thresholds(blurred, floor_low=MIN_LOW, floor_high=MIN_HIGH)
    return cv2.Canny(blurred, low, high) > 0


def _as_mask(edges: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Edge map (HxW or HxWxC, any dtype, non-zero = edge) as a bool mask of `size` (width, height).
    Upscaling uses nearest neighbour; downscaling area-averages first so thin lines survive."""
    arr = np.asarray(edges)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    if arr.ndim != 2:
        raise ValueError(f"sketch edges must be HxW or HxWxC, got shape {arr.shape}")
    mask = (arr > 0).astype(np.uint8) * 255
    width, height = size
    if mask.shape != (height, width):
        shrinking = width * height < mask.shape[0] * mask.shape[1]
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_NEAREST)
    return mask > 0


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) from every pixel to the nearest True pixel of `mask`."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def scaled_tolerance(tolerance_px: float, width: int, height: int) -> float:
    """`tolerance_px` at REFERENCE_SIDE, scaled to this size (at least 1 px unless it is 0)."""
    if tolerance_px < 0:
        raise ValueError(f"tolerance_px must be >= 0, got {tolerance_px}")
    if tolerance_px == 0:
        return 0.0
    return max(1.0, tolerance_px * max(width, height) / REFERENCE_SIDE)


def structure_fidelity(sketch_edges: np.ndarray, render: Image.Image, tolerance_px: float = 2) -> StructureScores:
    """Edge precision / recall / F1 within a tolerance, and the symmetric Chamfer distance.

    Computed at the render's size. A render (or sketch) without edges scores 0 and has no
    Chamfer distance (None)."""
    width, height = render.size
    sketch = _as_mask(sketch_edges, (width, height))
    rendered = render_edges(render)
    tol = scaled_tolerance(tolerance_px, width, height)
    if not sketch.any() or not rendered.any():
        return StructureScores(
            precision=0.0, recall=0.0, f1=0.0, chamfer_px=None, chamfer_norm=None, tolerance_px=round(tol, 3)
        )
    to_sketch = _distance_to(sketch)[rendered]  # each render edge pixel -> nearest sketch edge
    to_render = _distance_to(rendered)[sketch]  # each sketch edge pixel -> nearest render edge
    precision = float(np.mean(to_sketch <= tol))
    recall = float(np.mean(to_render <= tol))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    chamfer = (float(to_sketch.mean()) + float(to_render.mean())) / 2
    return StructureScores(
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        chamfer_px=round(chamfer, 3),
        chamfer_norm=round(chamfer / float(np.hypot(width, height)), 5),
        tolerance_px=round(tol, 3),
    )


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return float(np.dot(np.asarray(a, dtype=float), np.asarray(b, dtype=float)))


def _weighted_mean(values: Sequence[float], weights: Sequence[float] | None) -> float:
    if weights is None or sum(weights) <= 0:
        return float(np.mean(values))
    return float(np.average(values, weights=weights))


def style_similarity(
    clip: ImageTextEmbeddings,
    render: Image.Image,
    style_images: Sequence[Image.Image],
    weights: Sequence[float] | None = None,
) -> float | None:
    """Mean (or blend-weighted) CLIP cosine between the render and each style image; None without styles."""
    if not style_images:
        return None
    vectors = clip.embed_pil([render, *style_images])
    return _weighted_mean([_cosine(vectors[0], v) for v in vectors[1:]], weights)


def prompt_alignment(clip: ImageTextEmbeddings, prompt: str, render: Image.Image) -> float:
    """CLIP cosine between the prompt's text embedding and the render's image embedding."""
    return _cosine(clip.embed_query(prompt), clip.embed_pil([render])[0])


class QualityScorer:
    """Scores the images of a render (one `ImageScores` per image).

    Style images are embedded once per style id (ids are content hashes) and kept in a small,
    thread-safe LRU cache. `probe_score` is the cheaper call auto-balance ranks probes by."""

    def __init__(self, clip: ImageTextEmbeddings, settings: Settings, cache_size: int = 256) -> None:
        self.clip = clip
        self.threshold = float(settings.structure_threshold)
        self.tolerance_px = float(settings.edge_tolerance_px)
        self._style_vectors: LRUCache[str, list[float]] = LRUCache(cache_size)
        self._lock = threading.Lock()

    def _style_vector(self, library: StyleImages, style_id: str) -> list[float]:
        with self._lock:
            vector = self._style_vectors.get(style_id)
        if vector is None:
            vector = self.clip.embed_pil([library.load_image(style_id)])[0]
            with self._lock:
                self._style_vectors[style_id] = vector
        return vector

    def warning(self, f1: float, styled: bool, advice: tuple[str, str] | None = None) -> str | bool:
        """False, or why the structure score is low and what to change (`advice`: a family's own, styled
        and unstyled, where the strengths are not its levers: families.py)."""
        if f1 >= self.threshold:
            return False
        advice = (advice or (OVERPOWERED, UNFOLLOWED))[0 if styled else 1]
        return f"structure F1 {f1:.2f} is below {self.threshold:.2f}: {advice}"

    def score_image(
        self,
        sketch_edges: np.ndarray,
        image: Image.Image,
        prompt: str | None,
        style_vectors: Sequence[Sequence[float]],
        weights: Sequence[float] | None = None,
        advice: tuple[str, str] | None = None,
    ) -> ImageScores:
        """The scores of one image (prompt alignment None when no prompt is given)."""
        structure = structure_fidelity(sketch_edges, image, self.tolerance_px)
        vector = self.clip.embed_pil([image])[0]
        style = _weighted_mean([_cosine(vector, s) for s in style_vectors], weights) if style_vectors else None
        return ImageScores(
            structure=structure,
            style_similarity=None if style is None else round(style, 4),
            prompt_alignment=None if prompt is None else round(_cosine(self.clip.embed_query(prompt), vector), 4),
            structure_warning=self.warning(structure.f1, bool(style_vectors), advice),
        )

    def probe_score(
        self,
        sketch_edges: np.ndarray,
        image: Image.Image,
        style_ids: Sequence[str],
        weights: Sequence[float],
        library: StyleImages,
    ) -> tuple[float, float | None]:
        """(structure F1, style similarity) of one image: what `balance.auto_balance` ranks by."""
        vectors = [self._style_vector(library, i) for i in style_ids]
        scores = self.score_image(sketch_edges, image, None, vectors, weights)
        return scores.structure.f1, scores.style_similarity

    def region_similarity(
        self, image: Image.Image, mask: Image.Image, used: Sequence[StyleHit], library: StyleImages
    ) -> float | None:
        """Style similarity inside one region: the mask's bounding box of the image, grey outside the
        mask, against the region's own styles (None when the region had none)."""
        used = [h for h in used if h.weight]
        if not used:
            return None
        inside = np.asarray(mask.resize(image.size, Image.Resampling.NEAREST)) > 127
        ys, xs = np.nonzero(inside)
        pixels = np.where(inside[..., None], np.asarray(image.convert("RGB")), 128).astype(np.uint8)
        crop = Image.fromarray(pixels[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
        vector = self.clip.embed_pil([crop])[0]
        vectors = [self._style_vector(library, h.id) for h in used]
        return round(_weighted_mean([_cosine(vector, v) for v in vectors], [float(h.weight) for h in used]), 4)

    def score(
        self,
        images: Sequence[Image.Image],
        reference: np.ndarray,
        prompt: str,
        used: Sequence[StyleHit],
        library: StyleImages,
        advice: tuple[str, str] | None = None,
    ) -> list[ImageScores]:
        """The scores of each image, against the sketch's lines (`reference`: the Canny edges, or
        the strokes for a stroke-based control, so scores stay comparable across control types)
        and the styles that were used; `advice`: the family's, for a low structure score."""
        used = [h for h in used if h.weight]
        vectors = [self._style_vector(library, h.id) for h in used]
        weights = [float(h.weight) for h in used]
        return [self.score_image(reference, image, prompt, vectors, weights, advice) for image in images]
