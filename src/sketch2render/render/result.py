"""What a render produces, before it is written anywhere (outputs.py writes it)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from ..schemas import RenderRecipe


@dataclass
class RenderResult:
    images: list[Image.Image]
    control_image: Image.Image  # the edge map ControlNet saw (3-channel)
    sketch: Image.Image  # the sketch as resized for generation
    recipe: RenderRecipe
