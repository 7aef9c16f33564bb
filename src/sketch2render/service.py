"""The render service: what the CLI and the API call. It owns the loaded components (style
library, renderer, chain) and turns sketch bytes + parameters into a saved render.

Built once by `build_service` (the API's lifespan, or a CLI command); nothing loads at import.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from . import imaging
from .config import Settings
from .schemas import RenderParams, RenderRecipe

ProgressFn = Callable[[int, int], None]  # (step done, total steps)


@dataclass
class RenderResult:
    images: list[Image.Image]
    control_image: Image.Image  # the edge map ControlNet saw (3-channel)
    sketch: Image.Image  # the sketch as resized for generation
    recipe: RenderRecipe


@dataclass
class SavedRender:
    images: list[Path]
    control: Path
    recipe: Path  # JSON sidecar
    extra: dict[str, Any] = field(default_factory=dict)


def recipe_text(recipe: RenderRecipe) -> str:
    """A one-paragraph `parameters` text in the style other SD tools write into PNGs."""
    p = recipe.params
    styles = ", ".join(f"{h.style.title} ({h.weight:.2f})" for h in recipe.styles if h.weight) or "none"
    return (
        f"{p.prompt}\nNegative prompt: {p.negative_prompt}\n"
        f"Steps: {p.steps}, CFG scale: {p.guidance_scale}, Seed: {recipe.seed}, "
        f"Size: {recipe.width}x{recipe.height}, ControlNet: canny {p.control_strength} "
        f"({p.control_start}-{p.control_end}), Style: {styles}, Style mode: {p.style_mode}, "
        f"Style strength: {p.style_strength}, Model: {recipe.models.get('profile', '?')}"
    )


# Timings are measurements, not part of the recipe: leaving them (and auto-balance's own timing)
# out of the PNG keeps the same inputs + seed + profile byte-identical. They are in the JSON
# sidecar and the API result.
PNG_EXCLUDE = {"timings": True, "balance": {"seconds"}}


def png_with_recipe(image: Image.Image, recipe: RenderRecipe, index: int = 0) -> bytes:
    """PNG bytes carrying the recipe: `parameters` (human) and `sketch2render` (full JSON)."""
    text = {
        "parameters": recipe_text(recipe),
        "sketch2render": recipe.model_dump_json(exclude=PNG_EXCLUDE),
        "sketch2render-image-index": str(index),
    }
    return imaging.encode_png(image, text, compress_level=1)


def read_recipe(png: bytes) -> RenderRecipe:
    """The recipe embedded in a PNG written by `png_with_recipe` (timings zeroed)."""
    return RenderRecipe.model_validate_json(imaging.read_png_text(png)["sketch2render"])


def save_render(result: RenderResult, directory: Path, stem: str = "render") -> SavedRender:
    """Write image(s) with embedded recipe, the edge map and a JSON sidecar into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(result.images):
        path = directory / (f"{stem}.png" if len(result.images) == 1 else f"{stem}-{i + 1}.png")
        path.write_bytes(png_with_recipe(image, result.recipe, i))
        paths.append(path)
    control = directory / f"{stem}.edges.png"
    control.write_bytes(imaging.encode_png(result.control_image, compress_level=1))
    sidecar = directory / f"{stem}.json"
    sidecar.write_text(json.dumps(result.recipe.model_dump(mode="json"), indent=2))
    return SavedRender(images=paths, control=control, recipe=sidecar)


class RenderService:
    """Loaded components + the chain. Thread-safe; renders run one at a time (GPU lock inside)."""

    def __init__(self, settings: Settings, models: Any, embeddings: Any, library: Any, renderer: Any):
        from .chain import build_chain

        self.settings = settings
        self.models = models
        self.embeddings = embeddings
        self.library = library
        self.renderer = renderer
        from .metrics import QualityScorer

        self.scorer = QualityScorer(embeddings, settings)
        self.chain = build_chain(library, renderer, settings, models, scorer=self.scorer)
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        return {
            "profile": self.models.profile,
            "smoke_test": self.models.smoke_test,
            "warning": self.models.warning,
            "device": self.renderer.device,
            "models": self.models.ids(),
        }

    def render(
        self,
        sketch: bytes | Image.Image,
        params: RenderParams,
        *,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> RenderResult:
        return self.chain.invoke({"sketch": sketch, "params": params, "progress": progress, "cancel": cancel})


def build_service(settings: Settings) -> RenderService:
    """Resolve the model profile and load everything (seconds for tiny, longer for real weights)."""
    from .builders import build_embeddings, build_library, build_renderer
    from .models import resolve_models

    models = resolve_models(settings)
    embeddings = build_embeddings(settings, models)
    library = build_library(settings, embeddings, models)
    renderer = build_renderer(settings, models)
    return RenderService(settings, models, embeddings, library, renderer)
