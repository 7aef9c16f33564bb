"""High-resolution output: upscale a finished render by 2 or 4, then add detail tile by tile.

The parent is enlarged (LANCZOS) to the output size, cut into overlapping tiles (`tile_boxes`, the family's
native size unless told), and each tile is repainted by the family's img2img guided by its tile control (SD
1.5: the tile ControlNet `lllyasviel/control_v11f1e_sd15_tile`; SDXL: the union ControlNet's tile mode), whose
control image is the tile itself (FLUX.2 [klein]: its inpaint pipeline with an all-white mask, the tile its
reference 1), and the render's own style and prompt, with `detail_strength` as img2img
strength (0: the enlarged image as is). The img2img pipeline is built by `Renderer.derived` from the loaded
modules (no second UNet). Tiles are blended without seams: each tile's weight ramps linearly from 0 at its
edge to 1 over the overlap on every side that has a neighbour, and the output is the weighted mean.

Memory is bounded by the tile size: diffusion only ever sees one tile; beyond it the output
needs two float32 accumulators (16 bytes per output pixel). Left out: several images at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from ..errors import InvalidParameter
from ..schemas import ParentLink, Timings
from ..sketch import imaging
from ..version import __version__
from .klein import KleinGenerator
from .outputs import read_recipe
from .pipeline import step_callback
from .ports import NO_CONTROLS, RenderControls
from .renderer import Renderer
from .result import RenderResult
from .selection import style_embedding
from .stages import RenderComponents

FACTORS = (2, 4)
DETAIL_STRENGTH = 0.35  # img2img strength per tile: adds detail, keeps the composition
TILE = 512  # SD 1.5's own size (the default tile is the family's native size)
OVERLAP = 64
MAX_OUTPUT_SIDE = 4096


@dataclass(frozen=True)
class UpscaleInputs:
    parent_png: bytes  # the parent render, with its recipe
    factor: int = 2
    detail_strength: float = DETAIL_STRENGTH
    tile: int | None = None  # None: the family's native size (and overlap its eighth)
    overlap: int | None = None
    parent_id: str | None = None

    def sized(self, native: int) -> UpscaleInputs:
        """With the tile (and its overlap) of a family whose native size is `native` where none was given."""
        tile = self.tile or native
        return replace(self, tile=tile, overlap=self.overlap if self.overlap is not None else tile // 8)

    def check(self) -> None:
        if self.factor not in FACTORS:
            raise InvalidParameter(f"factor: must be 2 or 4, got {self.factor}", field="factor")
        if not 0.0 <= self.detail_strength <= 1.0:
            raise InvalidParameter(
                f"detail_strength: must be 0 to 1, got {self.detail_strength}", field="detail_strength"
            )
        if self.tile is None or self.overlap is None:
            return self.sized(TILE).check()
        if self.tile % 8 or not 64 <= self.tile <= 1024:
            raise InvalidParameter(f"tile: a multiple of 8 from 64 to 1024, got {self.tile}", field="tile")
        if not 0 <= self.overlap <= self.tile // 2:
            raise InvalidParameter(
                f"overlap: 0 to half the tile ({self.tile // 2}), got {self.overlap}", field="overlap"
            )


def tile_steps(steps: int, strength: float) -> int:
    """The scheduler steps of an img2img call that runs at least one step (it runs steps x strength)."""
    return max(steps, math.ceil(1 / strength)) if strength > 0 else steps


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    return sorted({*range(0, length - tile, tile - overlap), length - tile})


def tile_boxes(width: int, height: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of every tile, row by row; neighbours overlap by at least `overlap`."""
    tw, th = min(tile, width), min(tile, height)
    return [(x, y, x + tw, y + th) for y in _starts(height, th, overlap) for x in _starts(width, tw, overlap)]


def tile_weights(box: tuple[int, int, int, int], size: tuple[int, int], overlap: int) -> np.ndarray:
    """A tile's blend weights: a linear ramp over `overlap` px on each side with a neighbour, else 1."""
    left, top, right, bottom = box
    width, height = size

    def ramp(n: int, ramp_start: bool, ramp_end: bool) -> np.ndarray:
        w = np.ones(n, dtype=np.float32)
        if overlap > 0:
            r = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
            if ramp_start:
                w[:overlap] = np.minimum(w[:overlap], r)
            if ramp_end:
                w[-overlap:] = np.minimum(w[-overlap:], r[::-1])
        return w

    across = ramp(right - left, left > 0, right < width)
    down = ramp(bottom - top, top > 0, bottom < height)
    return down[:, None] * across[None, :]


class TileBlender:
    """The weighted mean of overlapping tiles (weights: `tile_weights`): two float32 accumulators of
    the output's size, the only memory that grows with the output."""

    def __init__(self, size: tuple[int, int], overlap: int) -> None:
        self.size, self.overlap = size, overlap
        self.acc = np.zeros((size[1], size[0], 3), dtype=np.float32)
        self.total = np.zeros((size[1], size[0]), dtype=np.float32)

    def add(self, box: tuple[int, int, int, int], tile: Image.Image) -> None:
        weights = tile_weights(box, self.size, self.overlap)
        self.acc[box[1] : box[3], box[0] : box[2]] += np.asarray(tile.convert("RGB"), np.float32) * weights[..., None]
        self.total[box[1] : box[3], box[0] : box[2]] += weights

    def image(self) -> Image.Image:
        return Image.fromarray(np.rint(self.acc / self.total[..., None]).clip(0, 255).astype(np.uint8))


def run_upscale(
    components: RenderComponents, inputs: UpscaleInputs, controls: RenderControls = NO_CONTROLS
) -> RenderResult:
    """Enlarge, then repaint every tile with the tile ControlNet; blend the tiles; the recipe chain."""
    # 1. Inputs: the parent and its recipe, the output size, the tile control.
    renderer, recipe = components.renderer, read_recipe(inputs.parent_png)
    assert isinstance(renderer, Renderer | KleinGenerator), "upscales need a diffusers renderer"
    family = renderer.family
    inputs = inputs.sized(family.native_size)
    inputs.check()
    parent = imaging.decode_upload(inputs.parent_png, components.settings.limits)
    size = (parent.width * inputs.factor, parent.height * inputs.factor)
    if max(size) > MAX_OUTPUT_SIDE:
        raise InvalidParameter(
            f"factor: the output would be {size[0]}x{size[1]}, over {MAX_OUTPUT_SIDE} px", field="factor"
        )
    if components.models is not None and family.geometry == "controlnet":
        components.models.extra("tile", "tile ControlNet (for upscale)", "factor")  # missing: says how to get it
    big = parent.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    # 2. The render's own style (the styles its recipe used, still in the library).
    used = [h for h in recipe.styles if h.weight and h.id in components.library]
    params = recipe.params
    # 3. Tiles: img2img guided by the tile ControlNet, blended by their weights.
    boxes = tile_boxes(*size, inputs.tile, inputs.overlap)
    steps = tile_steps(params.steps, inputs.detail_strength)
    per_tile = int(steps * inputs.detail_strength)
    blender = TileBlender(size, inputs.overlap)
    if isinstance(renderer, KleinGenerator):  # a reference family: img2img is its inpaint pipeline, mask all white
        speed = _reference_tiles(renderer, components, big, boxes, blender, used, inputs, recipe, controls)
    else:
        embeds = style_embedding(components.library, renderer, used) if used else renderer.zero_style()
        cfg = params.guidance_scale > 1.0
        embeds = embeds.to(renderer.device, renderer.dtype)[0 if cfg else 1 :]
        strength = params.style_strength if used else 0.0
        with renderer.session("canny", params.speed, params.style_mode, strength, controls.cancel) as speed:
            union = family.geometry == "union"
            pipe = renderer.derived(family.img2img_pipeline, None if union else renderer.controlnets.get("tile"))
            for index, box in enumerate(boxes):
                tile = big.crop(box)
                callback = step_callback(controls, per_tile * len(boxes), index * per_tile)
                control = renderer.control_inputs(tile, "tile")
                tile_params = params.model_copy(update={"steps": steps})
                out = _tile(pipe, tile, control, tile_params, embeds, inputs, recipe.seed, callback)
                blender.add(box, out)
    image = blender.image()
    # 4. The recipe: the parent's, with the upscale and the parent link.
    operation = {
        "kind": "upscale",
        "factor": inputs.factor,
        "detail_strength": inputs.detail_strength,
        "tile": inputs.tile,
        "overlap": inputs.overlap,
        "tiles": len(boxes),
        "controlnet": _tile_controlnet(components, family),
    }
    result = recipe.model_copy(
        update={
            "width": size[0],
            "height": size[1],
            "speed": speed.model_copy(update={"steps_per_tile": per_tile}),
            "timings": Timings(),
            "scores": [],
            "balance": None,
            "operation": operation,
            "parent": ParentLink(id=inputs.parent_id, recipe=recipe),
            "version": __version__,
        }
    )
    return RenderResult(images=[image], control_image=big, sketch=big, recipe=result)


def _reference_tiles(renderer: KleinGenerator, components, big, boxes, blender, used, inputs, recipe, controls):
    """Each tile through the family's inpaint pipeline with an all-white mask at `detail_strength` (img2img;
    the tile is also its reference 1), the render's styles as references; the speed record."""
    refs = renderer.style_input(components.library, used) if used else []
    params = recipe.params.model_copy(update={"steps": tile_steps(recipe.params.steps, inputs.detail_strength)})
    per_tile = int(params.steps * inputs.detail_strength)
    for index, box in enumerate(boxes):
        tile = big.crop(box)
        if inputs.detail_strength > 0:
            done = index * per_tile

            def progress(step: int, _total: int, done: int = done) -> None:
                if controls.progress is not None:
                    controls.progress(done + step, per_tile * len(boxes))

            white = Image.new("L", tile.size, 255)
            tile = renderer.edit(
                tile, white, params, refs, seed=recipe.seed, progress=progress, cancel=controls.cancel,
                strength=inputs.detail_strength,
            )[0]  # fmt: skip
        blender.add(box, tile)
    return renderer.speed_record(params.speed)


def _tile_controlnet(components: RenderComponents, family) -> str:
    """What the recipe names as the tile control: the tile ControlNet, or the union one's tile mode."""
    if family.geometry == "reference":
        return f"none ({family.img2img_pipeline} with an all-white mask)"
    models = components.models
    if family.geometry == "union":
        name = models.ids()["controlnet"] if models is not None else "union"
        return f"{name} (control_mode {family.control_mode('tile')})"
    return models.extra_id("tile") if models is not None else "tile"


def _tile(pipe, tile: Image.Image, control: dict, params, embeds, inputs: UpscaleInputs, seed: int, callback):
    """One tile through img2img + the tile control (its control image is the tile itself)."""
    import torch

    if inputs.detail_strength == 0:
        return tile
    with torch.inference_mode():
        return pipe(
            prompt=params.prompt,
            negative_prompt=params.negative_prompt or None,
            image=tile,
            **control,
            width=tile.width,
            height=tile.height,
            strength=inputs.detail_strength,
            num_inference_steps=params.steps,
            guidance_scale=params.guidance_scale,
            controlnet_conditioning_scale=params.control_strength,
            ip_adapter_image_embeds=[embeds],
            generator=torch.Generator(device="cpu").manual_seed(seed),
            callback_on_step_end=callback,
        ).images[0]
