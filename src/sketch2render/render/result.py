"""What a render produces, before it is written anywhere (outputs.py writes it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from ..schemas import ImageScores, RenderRecipe


@dataclass
class RenderResult:
    images: list[Image.Image]
    control_image: Image.Image  # the edge map ControlNet saw (3-channel)
    sketch: Image.Image  # the sketch as resized for generation
    recipe: RenderRecipe
    # Set when the caller deferred the quality scores (`RenderControls(defer_scores=True)`):
    # the recipe has no scores yet; calling this computes them (one per image).
    pending_scores: Callable[[], list[ImageScores]] | None = None
