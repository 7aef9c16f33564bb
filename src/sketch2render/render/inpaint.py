"""Region edits: repaint only the masked area of a finished render, keeping the sketch's geometry.

ControlNet inpainting on the parent's family with the parent's own control image and ControlNet (the family's
inpaint pipeline: `StableDiffusionControlNetInpaintPipeline` on SD 1.5,
`StableDiffusionXLControlNetUnionInpaintPipeline` with the render's control mode on SDXL; built by
`Renderer.derived` from the loaded modules: no second UNet), the IP-Adapter kept: the new prompt retrieves its
style (or the caller names styles) by the same rules as a render. The sampler repaints the mask grown by the
feather band; the result is then blended into the parent with weights falling from 1 at the mask to 0 at
`feather` pixels outside it, and every pixel past that band is the parent's own, exactly. Left out: edits of
several images at once (one image per edit), previews.
On a reference family (FLUX.2 [klein], klein.py) the family's inpaint pipeline takes the parent as its
reference 1 and the styles as further references; the same band and blend keep the parent's pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import InvalidParameter
from ..schemas import EditScores, ImageScores, ParentLink, RenderParams, RenderRecipe, SpeedRecord, Timings
from ..sketch import imaging
from ..sketch import masks as mask_ops
from ..version import __version__
from .klein import KleinGenerator
from .outputs import read_recipe
from .pipeline import retrieve, step_callback
from .ports import NO_CONTROLS, RenderControls
from .renderer import Renderer
from .result import RenderResult
from .selection import style_choice, style_embedding
from .stages import RenderComponents, RenderRequest, Retrieved

FEATHER_PX = 8  # the band outside the mask in which an edit blends into its parent
MAX_FEATHER_PX = 64
EDIT_FIELDS = ("prompt", "negative_prompt", "style_ids", "style_mode", "style_strength", "seed", "steps")


@dataclass(frozen=True)
class EditInputs:
    """An edit: the parent render (PNG with its recipe), its control image, the mask, the new parameters."""

    parent_png: bytes
    control: Image.Image
    mask: bytes
    params: RenderParams
    feather: int = FEATHER_PX
    parent_id: str | None = None
    principal: str = ""  # whose styles (their private ones too) and corrections the new prompt retrieves with
    retrieved: Retrieved | None = None  # the new prompt's styles, found by the caller (a Ray replica's edit)


def edit_params(parent: RenderParams, changes: dict) -> RenderParams:
    """The parent's parameters with an edit's changes (prompt, styles, seed, steps); no regions."""
    unknown = sorted(set(changes) - set(EDIT_FIELDS))
    if unknown:
        raise InvalidParameter(f"{unknown[0]}: not a field of an edit ({', '.join(EDIT_FIELDS)})", field=unknown[0])
    values = {**parent.model_dump(), "regions": [], "auto_balance": False, "num_images": 1}
    values["family"] = parent.family or "sd15"  # the parent's family (renders before families: SD 1.5)
    values.update({k: v for k, v in changes.items() if v is not None})
    if "style_ids" not in changes or changes["style_ids"] is None:
        values["style_ids"] = []  # the new prompt retrieves its own style
    return RenderParams.model_validate(values)


def blend_into_parent(parent: Image.Image, generated: Image.Image, weights: np.ndarray) -> Image.Image:
    """The generated pixels where the weight is 1, the parent's where it is 0 (exactly), a mix between."""
    old = np.asarray(parent.convert("RGB"), dtype=np.float32)
    new = np.asarray(generated.convert("RGB").resize(parent.size), dtype=np.float32)
    mixed = np.rint(old + (new - old) * weights[..., None]).clip(0, 255).astype(np.uint8)
    mixed[weights == 0] = np.asarray(parent.convert("RGB"))[weights == 0]
    return Image.fromarray(mixed)


def run_edit(components: RenderComponents, inputs: EditInputs, controls: RenderControls = NO_CONTROLS) -> RenderResult:
    """Repaint the masked area of the parent, in numbered stages: inputs, style, the diffusers call,
    the blend."""
    # 1. Inputs: the parent and its recipe, the mask (the parent's size, not empty), the band.
    settings, renderer, params = components.settings, components.renderer, inputs.params
    assert isinstance(renderer, Renderer | KleinGenerator), "edits need a diffusers renderer"
    parent = imaging.decode_upload(inputs.parent_png, settings.limits)
    parent_recipe = read_recipe(inputs.parent_png)
    if parent.width % 8 or parent.height % 8:
        raise InvalidParameter(f"the parent image is {parent.width}x{parent.height}; sides must be multiples of 8")
    mask = mask_ops.decode_mask(inputs.mask, settings.limits, size=parent.size, field="mask")
    if not 0 <= inputs.feather <= MAX_FEATHER_PX:
        raise InvalidParameter(f"feather: must be 0 to {MAX_FEATHER_PX} px, got {inputs.feather}", field="feather")
    control = inputs.control.convert("RGB").resize(parent.size, Image.Resampling.NEAREST)
    band = mask_ops.dilate(np.asarray(mask) > mask_ops.THRESHOLD, inputs.feather)
    # 2. The style of the new prompt (or the named styles), by the render's rules.
    retrieved, used, fallback, embeds = edit_style(components, params, inputs.principal, inputs.retrieved)
    kind = parent_recipe.control.get("type", parent_recipe.params.control)
    seed = params.seed if params.seed is not None else parent_recipe.seed
    params = params.model_copy(update={"seed": seed})
    # 3. ControlNet inpainting with the parent's control image, on the shared modules.
    import torch

    band_mask = Image.fromarray((band * 255).astype(np.uint8), mode="L")
    references = None
    if isinstance(renderer, KleinGenerator):  # a reference family: the parent and the styles as references
        generated, speed, references = renderer.edit(
            parent, band_mask, params, embeds, seed=seed, progress=controls.progress, cancel=controls.cancel
        )
    else:
        strength = params.style_strength if used else 0.0
        with renderer.session(kind, params.speed, params.style_mode, strength, controls.cancel) as speed:
            pipe = renderer.derived(renderer.family.inpaint_pipeline)
            with torch.inference_mode():
                generated = pipe(
                    prompt=params.prompt,
                    negative_prompt=params.negative_prompt or None,
                    image=parent,
                    mask_image=band_mask,
                    **renderer.control_inputs(control, kind),
                    width=parent.width,
                    height=parent.height,
                    strength=1.0,
                    num_inference_steps=params.steps,
                    guidance_scale=params.guidance_scale,
                    controlnet_conditioning_scale=params.control_strength,
                    control_guidance_start=params.control_start,
                    control_guidance_end=params.control_end,
                    ip_adapter_image_embeds=[embeds],
                    generator=torch.Generator(device="cpu").manual_seed(seed),
                    callback_on_step_end=step_callback(controls, params.steps),
                ).images[0]
    # 4. Blend into the parent: past the band every pixel is the parent's.
    image = blend_into_parent(parent, generated, mask_ops.feather(mask, inputs.feather))
    operation = {
        "kind": "edit",
        "mask_sha256": mask_ops.mask_sha256(inputs.mask),
        "mask_area": round(mask_ops.area(mask), 4),
        "feather_px": inputs.feather,
        "control": kind,
    }
    similarity = components.scorer.region_similarity(image, mask, used, components.library)
    recipe = edit_recipe(parent_recipe, inputs.parent_id, params, retrieved.hits, used, fallback, speed)
    scores = [ImageScores(edit=EditScores(style_similarity=similarity))]
    update = {"operation": operation, "scores": scores, "family": renderer.family.name, "references": references}
    recipe = recipe.model_copy(update=update)
    return RenderResult(images=[image], control_image=control, sketch=control, recipe=recipe)


def edit_style(
    components: RenderComponents, params: RenderParams, principal: str = "", retrieved: Retrieved | None = None
):
    """(retrieved, used styles, fallback reason, IP-Adapter embedding on the renderer's device);
    `retrieved`: the styles found already (else retrieved here, by the render's rules)."""
    settings, renderer = components.settings, components.renderer
    if retrieved is None:
        retrieved = retrieve(
            RenderRequest(b"", params, principal=principal),
            library=components.library,
            search=components.search,
            commercial_only=settings.commercial_only,
        )
    used, fallback = style_choice(params, settings)(retrieved)
    if isinstance(renderer, KleinGenerator):  # style images in order, not an embedding
        return retrieved, used, fallback, renderer.style_input(components.library, used) if used else []
    embeds = style_embedding(components.library, renderer, used) if used else renderer.zero_style()
    cfg = params.guidance_scale > 1.0
    return retrieved, used, fallback, embeds.to(renderer.device, renderer.dtype)[0 if cfg else 1 :]


def edit_recipe(parent: RenderRecipe, parent_id, params, hits, used, fallback, speed: SpeedRecord) -> RenderRecipe:
    """The parent's recipe with the edit's parameters and styles, linked to the parent."""
    weights = {h.id: h.weight for h in used}
    return parent.model_copy(
        update={
            "params": params,
            "seed": params.seed,
            "styles": [h.model_copy(update={"weight": weights.get(h.id)}) for h in hits],
            "fallback_reason": fallback,
            "regions": [],
            "speed": speed.model_copy(update={"steps": params.steps, "guidance_scale": params.guidance_scale}),
            "balance": None,
            "timings": Timings(),
            "parent": ParentLink(id=parent_id, recipe=parent),
            "version": __version__,
        }
    )
