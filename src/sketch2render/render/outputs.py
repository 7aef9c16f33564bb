"""The one owner of render outputs: file names, PNGs carrying their recipe, the control image and
the JSON sidecar — for the CLI (`render.png` next to the sketch), the job folders of the API, and
the bytes a Ray replica sends back (encoded there, written here by the API process).

In a folder, for stem S: `S.png` (or `S-1.png`, `S-2.png`, … for several images), `S.control.png`
(the control image ControlNet followed: edges, lineart or scribble), `S.json`. Every file is written
atomically (a temporary sibling renamed into place). Folders written before the control image had
its name hold `S.edges.png` instead: `existing_control_path` reads either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..files import atomic_write
from ..schemas import RenderRecipe, credit_text
from ..sketch import imaging
from .result import RenderResult

OUTPUT_STEM = "render"  # the stem inside a job folder
CONTROL_SUFFIX = ".control.png"  # S.control.png: the control image beside S.png
LEGACY_CONTROL_SUFFIX = ".edges.png"  # its name in folders written before, still read
PNG_LEVEL = 1  # zlib level of written PNGs: 2.5x faster than 6, ~5 % larger
# Timings are measurements, not part of the recipe: leaving them (and auto-balance's own timing)
# out of the PNG keeps the same inputs + seed + profile byte-identical. They are in the JSON
# sidecar and the API result. So are the quality scores: the API writes the PNG before it scores
# the image (the scores follow a moment later), and the PNG is the same either way.
CREDIT_KEY = "Credit"  # the PNG text chunk with the styles' credit lines
PNG_EXCLUDE = {"timings": True, "balance": {"seconds"}, "scores": True}


@dataclass
class EncodedRender:
    """A render as bytes: what is written to disk (and what a Ray replica sends)."""

    images: list[bytes]  # PNGs carrying the recipe
    control: bytes  # the control image (PNG)
    recipe: dict  # RenderRecipe as JSON-ready dict (timings included)


@dataclass
class SavedRender:
    images: list[Path]
    control: Path
    recipe: Path  # JSON sidecar


# --------------------------------------------------------------------------- names
def image_paths(directory: Path, count: int, stem: str = OUTPUT_STEM) -> list[Path]:
    """One image: S.png; several: S-1.png … S-N.png."""
    if count == 1:
        return [directory / f"{stem}.png"]
    return [directory / f"{stem}-{i}.png" for i in range(1, count + 1)]


def control_path(directory: Path, stem: str = OUTPUT_STEM) -> Path:
    """Where the control image is written: S.control.png."""
    return directory / f"{stem}{CONTROL_SUFFIX}"


def existing_control_path(directory: Path, stem: str = OUTPUT_STEM) -> Path:
    """The control image to read: S.control.png, or S.edges.png in a folder written before the
    rename (S.control.png when neither is there, so the caller's not-found names the new file)."""
    path = control_path(directory, stem)
    legacy = directory / f"{stem}{LEGACY_CONTROL_SUFFIX}"
    return legacy if not path.is_file() and legacy.is_file() else path


def is_control_image(path: Path) -> bool:
    """A control image written beside a render (either name), not a sketch or a render."""
    return path.name.endswith((CONTROL_SUFFIX, LEGACY_CONTROL_SUFFIX))


def preview_path(directory: Path) -> Path:
    """The newest preview of a running render (TAESD, small): preview.png in its folder."""
    return directory / "preview.png"


def recipe_path(directory: Path, stem: str = OUTPUT_STEM) -> Path:
    return directory / f"{stem}.json"


def clear_outputs(directory: Path, stem: str = OUTPUT_STEM) -> None:
    """Outputs of an earlier, interrupted attempt (a job's input stays)."""
    for path in directory.glob(f"{stem}*"):
        path.unlink(missing_ok=True)
    preview_path(directory).unlink(missing_ok=True)


# --------------------------------------------------------------------------- PNG with recipe
def recipe_text(recipe: RenderRecipe) -> str:
    """A one-paragraph `parameters` text in the style other SD tools write into PNGs."""
    p = recipe.params
    control = recipe.control.get("type", p.control)
    styles = ", ".join(f"{h.style.title} ({h.weight:.2f})" for h in recipe.styles if h.weight) or "none"
    return (
        f"{p.prompt}\nNegative prompt: {p.negative_prompt}\n"
        f"Steps: {p.steps}, CFG scale: {p.guidance_scale}, Seed: {recipe.seed}, "
        f"Size: {recipe.width}x{recipe.height}, ControlNet: {control} {p.control_strength} "
        f"({p.control_start}-{p.control_end}), Style: {styles}, Style mode: {p.style_mode}, "
        f"Style strength: {p.style_strength}, Model: {recipe.models.get('profile', '?')}"
    )


def png_with_recipe(image: Image.Image, recipe: RenderRecipe, index: int = 0) -> bytes:
    """PNG bytes carrying the recipe: `parameters` (human) and `sketch2render` (full JSON), and
    `Credit`, the credit line of each style used (when one was)."""
    text = {
        "parameters": recipe_text(recipe),
        "sketch2render": recipe.model_dump_json(exclude=PNG_EXCLUDE),
        "sketch2render-image-index": str(index),
    }
    if recipe.attribution:
        text[CREDIT_KEY] = credit_text(recipe.attribution)
    return imaging.encode_png(image, text, compress_level=PNG_LEVEL)


def read_recipe(png: bytes) -> RenderRecipe:
    """The recipe embedded in a PNG written by `png_with_recipe` (timings zeroed, no quality scores)."""
    return RenderRecipe.model_validate_json(imaging.read_png_text(png)["sketch2render"])


# --------------------------------------------------------------------------- writing
def encode_render(result: RenderResult) -> EncodedRender:
    recipe = result.recipe
    return EncodedRender(
        images=[png_with_recipe(image, recipe, i) for i, image in enumerate(result.images)],
        control=imaging.encode_png(result.control_image, compress_level=PNG_LEVEL),
        recipe=recipe.model_dump(mode="json"),
    )


def write_render(encoded: EncodedRender, directory: Path, stem: str = OUTPUT_STEM) -> SavedRender:
    """Write image(s), the control image and the JSON sidecar into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    saved = SavedRender(
        images=image_paths(directory, len(encoded.images), stem),
        control=control_path(directory, stem),
        recipe=recipe_path(directory, stem),
    )
    for path, data in zip(saved.images, encoded.images, strict=True):
        atomic_write(path, data)
    atomic_write(saved.control, encoded.control)
    atomic_write(saved.recipe, json.dumps(encoded.recipe, indent=2).encode())
    return saved


def write_recipe(recipe: dict, directory: Path, stem: str = OUTPUT_STEM) -> Path:
    """Rewrite the JSON sidecar (the API, once the deferred scores are in)."""
    path = recipe_path(directory, stem)
    atomic_write(path, json.dumps(recipe, indent=2).encode())
    return path


def save_render(result: RenderResult, directory: Path, stem: str = OUTPUT_STEM) -> SavedRender:
    """Encode and write a render (the CLI's and the local job worker's call)."""
    return write_render(encode_render(result), directory, stem)
