"""The small interfaces the render pipeline needs of its collaborators, so that `pipeline.py` is
typed without importing torch, diffusers or chromadb. The real implementations: `StyleLibrary`
(styles/library.py), `Renderer` (renderer.py), `QualityScorer` (quality.py); tests pass fakes.
And what a caller follows and steers a render with: `RenderControls`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image

from ..schemas import ImageScores, ReferenceRecord, RenderParams, SpeedRecord, StyleHit, StyleRecord

if TYPE_CHECKING:
    from torch import Tensor

    from ..styles.scope import StyleScope
    from .caches import Caches

ProgressFn = Callable[[int, int], None]  # (step done, total steps)
PreviewFn = Callable[[int, Image.Image], None]  # (step done, a small decoded picture of the latents)


@dataclass(frozen=True)
class RenderControls:
    """How a caller follows and steers a running render, edit or upscale (not part of its inputs).

    `progress(step, total)` after each denoising step; `cancel`: checked between steps (set: the
    run stops with `errors.Cancelled`); `preview(step, image)` every few steps (S2R_PREVIEW_EVERY)
    when TAESD is available; `defer_scores`: leave the quality scores to
    `RenderResult.pending_scores()` (the API's worker reports the images first). Edits and upscales
    read `progress` and `cancel` only (no previews; their scores are computed at once)."""

    progress: ProgressFn | None = None
    cancel: threading.Event | None = None
    preview: PreviewFn | None = None
    defer_scores: bool = False


NO_CONTROLS = RenderControls()  # nothing followed, nothing to cancel, scores at once


@dataclass
class Generated:
    """What one call of the diffusion pipeline produced."""

    images: list[Image.Image]
    denoise_s: float
    vae_decode_s: float
    speed: SpeedRecord = field(default_factory=SpeedRecord)  # the preset and what it resolved to
    references: ReferenceRecord | None = None  # reference families: what was passed (render/klein.py)


@dataclass(frozen=True)
class StyleReference:
    """A used style as a reference image (families whose style input is images, not embeddings)."""

    hit: StyleHit
    image: Image.Image


class StyleImages(Protocol):
    """Style images by id (what quality scores need)."""

    def load_image(self, style_id: str) -> Image.Image: ...


class StyleSource(StyleImages, Protocol):
    """The style library as the pipeline sees it: look-up and stored IP-Adapter embeddings (the search
    is a `StyleSearcher`)."""

    def __len__(self) -> int: ...

    def get(self, style_id: str) -> StyleRecord: ...

    def collection_ids(self, name: str, principal: str) -> frozenset[str]: ...

    def load_ip_embeds(self, style_id: str, encoder_key: str) -> Tensor | None: ...

    def save_ip_embeds(self, style_id: str, encoder_key: str, embeds: Tensor) -> None: ...


class StyleSearcher(Protocol):
    """What the chain needs of retrieval (retrieval.HybridSearch): the styles a prompt means."""

    def search(
        self, query: str, k: int = 5, *, principal: str = "", scope: StyleScope | None = None
    ) -> list[StyleHit]: ...


class ImageGenerator(Protocol):
    """The diffusion side: style images to IP-Adapter embeddings, and control image + params to images."""

    device: str
    dtype_name: str
    encoder_key: str  # cache key of style embeddings from this image encoder
    caches: Caches  # what is kept between renders (caches.py)

    def encode_style(self, image: Image.Image) -> Tensor: ...

    def mix(self, embeds: Sequence[Tensor], weights: Sequence[float]) -> Tensor: ...

    def style_input(self, library: StyleSource, used: Sequence[StyleHit]) -> Tensor | list[StyleReference]:
        """What the used styles go in as: the blended IP-Adapter embedding, or the ordered style images."""
        ...

    def generate(
        self,
        control_image: Image.Image,
        params: RenderParams,
        *,
        seed: int,
        control_type: str = "canny",
        style_embeds: Tensor | list[StyleReference] | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        preview: PreviewFn | None = None,
        ip_masks: Tensor | None = None,
        sketch: Image.Image | None = None,
    ) -> Generated: ...


class Scorer(Protocol):
    """Quality scores of finished images, and the cheaper probe score auto-balance ranks by."""

    threshold: float

    def score(
        self,
        images: Sequence[Image.Image],
        reference: np.ndarray,
        prompt: str,
        used: Sequence[StyleHit],
        library: StyleImages,
        advice: tuple[str, str] | None = None,
    ) -> list[ImageScores]: ...

    def probe_score(
        self,
        sketch_edges,
        image: Image.Image,
        style_ids: Sequence[str],
        weights: Sequence[float],
        library: StyleImages,
    ) -> tuple[float, float | None]: ...

    def region_similarity(
        self, image: Image.Image, mask: Image.Image, used: Sequence[StyleHit], library: StyleImages
    ) -> float | None: ...
