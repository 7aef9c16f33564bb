"""Model families: what each family of diffusion models is, said in one place.

A family is a kind of model stack (Stable Diffusion 1.5, SDXL, …), not a set of weights: the profiles
(`models/profiles.py`) say where a family's weights lie. Everything that differs between families and
is plain data lives here: the diffusers pipeline classes (render with control, inpaint, tiled
img2img), how geometry is applied (a ControlNet per control type, or one union ControlNet and its
control modes), how a style is applied (the IP-Adapter kind, the style block `style-only` uses,
region masks), the speed presets (scheduler, few-step LoRA, steps, guidance, decoder), the native size
and size multiple, a memory estimate, and the parameters the family cannot honour.

`RenderParams` takes its family-dependent defaults from here (`defaults`); the renderer
(`render/adapters.py`) turns this data into diffusers calls. No heavy import: the UI reads it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from .errors import InvalidParameter

FamilyName = Literal["sd15", "sdxl", "klein"]
FAMILY_NAMES: tuple[str, ...] = ("sd15", "sdxl", "klein")
CONTROL_TYPES = ("canny", "lineart", "scribble", "softedge")


@dataclass(frozen=True)
class SpeedPreset:
    """One speed preset of a family: the defaults a request leaves out, and how the pipeline runs it."""

    steps: int
    guidance_scale: float
    scheduler: str  # the diffusers scheduler class
    scheduler_options: tuple[tuple[str, object], ...] = ()  # from_config overrides
    lora: str | None = None  # the model set's extra holding the few-step LoRA (None: no LoRA)
    lora_weight: str = ""  # its file name
    lora_title: str = ""  # what errors call it ("LCM-LoRA")
    tcd: bool = False  # S2R_FAST_SCHEDULER=tcd may run it with the TCD scheduler instead
    decoder: Literal["vae", "taesd"] = "vae"  # taesd: the tiny autoencoder of the family
    decoder_title: str = "TAESD"  # what errors call that tiny autoencoder
    max_size: int | None = None  # a cap on the size a request leaves out (live)


@dataclass(frozen=True)
class Family:
    """What one family is (see the module docstring)."""

    name: str
    title: str
    # Pipelines (diffusers class names): the render with control, edits, upscales' tiles.
    pipeline: str
    inpaint_pipeline: str
    img2img_pipeline: str
    # Geometry: "controlnet" (one ControlNet per control type, the tile ControlNet for upscales),
    # "union" (one ControlNet for every type, told apart by `control_modes`) or "reference" (no
    # ControlNet: the sketch goes in as the first reference image of a multi-reference model).
    geometry: Literal["controlnet", "union", "reference"]
    control_modes: Mapping[str, int] = field(default_factory=dict)  # union: control type -> control_mode
    # Style: the IP-Adapter, where `style-only` injects it (InstantStyle), and the layout block.
    style_adapter: str = "IP-Adapter"
    style_block: str = "up_blocks.1.attentions.1"
    layout_block: str = "down_blocks.2.attentions.1"
    patch_embeds: bool = False  # the adapter reads the encoder's patch tokens (Plus), not its pooled embedding
    # Sizes: the default longest side, and what every side must be a multiple of.
    native_size: int = 512
    size_multiple: int = 8
    speeds: Mapping[str, SpeedPreset] = field(default_factory=dict)  # quality | fast | live
    memory_gb: float = 0.0  # about what a quality render at the native size needs on a GPU in `gpu_dtype`
    gpu_dtype: str = "fp16"
    offload_memory_gb: float | None = None  # the same with model CPU offload (S2R_CPU_OFFLOAD), where known
    vae_fp16_fix: bool = False  # the family's own VAE overflows in fp16: a fixed VAE replaces it
    unsupported: Mapping[str, str] = field(default_factory=dict)  # parameter -> why this family cannot
    # Values of an unsupported parameter that the family honours all the same (e.g. style_mode none).
    accepted: Mapping[str, tuple[object, ...]] = field(default_factory=dict)
    reference_limit: int = 0  # reference images the model takes at most (geometry "reference")
    # What a low structure score advises (styled, unstyled); None: the strengths (quality.py's)
    structure_advice: tuple[str, str] | None = None
    # Reference families: what reference 1 is ("sketch": the sketch as drawn; "control": its control
    # image), and the instruction the user's prompt is wrapped in ({prompt}).
    reference_from: Literal["sketch", "control"] = "sketch"
    instruction: str = "{prompt}"
    style_instruction: str = ""  # what {styles} becomes when styles are passed ({images}: "image 2", "images 2 to 4")
    profiles: tuple[str, ...] = ()  # real weights, local stand-in, full-size random

    @property
    def control_types(self) -> tuple[str, ...]:
        return CONTROL_TYPES

    def preset(self, speed: str) -> SpeedPreset:
        return self.speeds[speed]

    def control_mode(self, kind: str) -> int | None:
        """The union ControlNet's control_mode of a control type (None: a ControlNet per type)."""
        return self.control_modes.get(kind) if self.geometry == "union" else None


# LCM-LoRA (latent-consistency/lcm-lora-sdv1-5): LCMScheduler, 4-8 steps, no classifier-free guidance.
LCM_FAST = SpeedPreset(
    steps=6,
    guidance_scale=1.0,
    scheduler="LCMScheduler",
    lora="lcm_lora",
    lora_weight="pytorch_lora_weights.safetensors",
    lora_title="LCM-LoRA",
    tcd=True,
)

SD15 = Family(
    name="sd15",
    title="Stable Diffusion 1.5",
    pipeline="StableDiffusionControlNetPipeline",
    inpaint_pipeline="StableDiffusionControlNetInpaintPipeline",
    img2img_pipeline="StableDiffusionControlNetImg2ImgPipeline",
    geometry="controlnet",
    style_adapter="IP-Adapter (h94 ip-adapter_sd15, ViT-H image encoder)",
    style_block="up_blocks.1.attentions.1",
    layout_block="down_blocks.2.attentions.1",
    native_size=512,
    speeds={
        "quality": SpeedPreset(steps=20, guidance_scale=7.5, scheduler="UniPCMultistepScheduler"),
        "fast": LCM_FAST,
        "live": replace(LCM_FAST, steps=3, decoder="taesd", max_size=512),
    },
    memory_gb=5.0,
    profiles=("sd15", "tiny", "sd15-random"),
)

# xinsir/controlnet-union-sdxl-1.0 (ProMax): 0 openpose, 1 depth, 2 hed/pidi/scribble, 3 canny/lineart/mlsd,
# 4 normal, 5 segment, 6 tile, 7 repaint (inpaint).
SDXL_CONTROL_MODES = {"canny": 3, "lineart": 3, "scribble": 2, "softedge": 2, "tile": 6, "inpaint": 7}
LIGHTNING_LORA = "sdxl_lightning_4step_lora.safetensors"
# SDXL-Lightning 4-step LoRA: Euler with trailing timesteps, no classifier-free guidance.
LIGHTNING_FAST = SpeedPreset(
    steps=4,
    guidance_scale=1.0,
    scheduler="EulerDiscreteScheduler",
    scheduler_options=(("timestep_spacing", "trailing"),),
    lora="lightning_lora",
    lora_weight=LIGHTNING_LORA,
    lora_title="SDXL-Lightning LoRA",
    decoder_title="TAESDXL",
)

SDXL = Family(
    name="sdxl",
    title="Stable Diffusion XL",
    pipeline="StableDiffusionXLControlNetUnionPipeline",
    inpaint_pipeline="StableDiffusionXLControlNetUnionInpaintPipeline",
    img2img_pipeline="StableDiffusionXLControlNetUnionImg2ImgPipeline",
    geometry="union",
    control_modes=SDXL_CONTROL_MODES,
    style_adapter="IP-Adapter Plus SDXL (h94 ip-adapter-plus_sdxl_vit-h, ViT-H image encoder)",
    style_block="up_blocks.0.attentions.1",
    layout_block="down_blocks.2.attentions.1",
    patch_embeds=True,
    native_size=1024,
    speeds={
        "quality": SpeedPreset(steps=30, guidance_scale=5.0, scheduler="UniPCMultistepScheduler"),
        # SDXL-Lightning 4-step LoRA: Euler with trailing timesteps, no classifier-free guidance.
        "fast": LIGHTNING_FAST,
        "live": replace(LIGHTNING_FAST, decoder="taesd", max_size=768),
    },
    memory_gb=12.0,
    vae_fp16_fix=True,
    profiles=("sdxl", "tiny-sdxl", "sdxl-random"),
)

# FLUX.2 [klein] 4B: distilled to 4 steps (guidance ignored), up to 4 reference images, 16 px per token.
KLEIN_INSTRUCTION = (
    "Render the drawing of image 1 as a finished picture: keep its lines, shapes, proportions and "
    "composition exactly. {styles}Subject: {prompt}"
)
KLEIN_STYLES = "Take the look (colours, materials, brushwork, light) from {images}, not their content. "
FLOW = "FlowMatchEulerDiscreteScheduler"

KLEIN = Family(
    name="klein",
    title="FLUX.2 [klein] 4B",
    pipeline="Flux2KleinPipeline",
    inpaint_pipeline="Flux2KleinInpaintPipeline",
    img2img_pipeline="Flux2KleinInpaintPipeline",  # with an all-white mask and strength < 1
    geometry="reference",
    style_adapter="reference images (the retrieved styles after the sketch, best first)",
    style_block="",
    layout_block="",
    native_size=1024,
    size_multiple=16,
    speeds={
        "quality": SpeedPreset(steps=4, guidance_scale=1.0, scheduler=FLOW),
        "fast": SpeedPreset(steps=3, guidance_scale=1.0, scheduler=FLOW, max_size=768),
        "live": SpeedPreset(steps=2, guidance_scale=1.0, scheduler=FLOW, max_size=512),
    },
    memory_gb=20.0,  # published, bf16 at 1024x1024, everything resident (~13 with model CPU offload)
    gpu_dtype="bf16",
    offload_memory_gb=13.0,
    unsupported={
        "guidance_scale": "the model is step-distilled: it runs without classifier-free guidance",
        "negative_prompt": "no classifier-free guidance, so nothing a negative prompt could steer",
        "control_strength": "no ControlNet: geometry comes from the sketch as reference image 1",
        "control_start": "no ControlNet: geometry comes from the sketch as reference image 1",
        "control_end": "no ControlNet: geometry comes from the sketch as reference image 1",
        "style_strength": "styles are reference images, which take no weight (they are ordered by score)",
        "style_mode": "style-only needs an IP-Adapter block to inject into; full and none are available",
        "regions": "reference images are global: a style per region cannot be expressed",
    },
    accepted={"style_mode": ("full", "none")},
    reference_limit=4,
    structure_advice=(
        "the style references overpowered the geometry; pass fewer styles (style_ids) or use auto_balance",
        "the render does not follow the sketch's lines; try auto_balance (it also tries the control map)",
    ),
    reference_from="sketch",
    instruction=KLEIN_INSTRUCTION,
    style_instruction=KLEIN_STYLES,
    profiles=("klein", "tiny-klein", "klein-random"),
)

FAMILIES: dict[str, Family] = {family.name: family for family in (SD15, SDXL, KLEIN)}
DEFAULT_FAMILY = "sd15"


def get_family(name: str | None) -> Family:
    """The family of this name (None: SD 1.5, the family a request without one had before families)."""
    family = FAMILIES.get(name or DEFAULT_FAMILY)
    if family is None:
        raise InvalidParameter(f"family: unknown family {name!r}; known: {', '.join(FAMILIES)}", field="family")
    return family


def defaults(family: str | None, speed: str) -> dict[str, float]:
    """What a request that leaves them out gets: steps and guidance of the preset, the native size (capped by
    the preset's `max_size`)."""
    spec = get_family(family)
    preset = spec.preset(speed)
    size = min(spec.native_size, preset.max_size) if preset.max_size else spec.native_size
    return {"steps": preset.steps, "guidance_scale": preset.guidance_scale, "size": size}


class GivenParams(Protocol):
    """What `refuse_unsupported` reads of a request's parameters (schemas.RenderParams)."""

    model_fields_set: set[str]
    speed: str
    size: int

    def field_default(self, name: str) -> object: ...


def refuse_unsupported(family: Family, params: GivenParams) -> None:
    """A 422 naming the first parameter the request gave that the family cannot honour: given with a
    value other than what the request would get without it (its default, or the family's for steps,
    guidance and size) and not one of the family's `accepted` values. A size off the family's grid too."""
    baseline = defaults(family.name, params.speed)
    for name, why in family.unsupported.items():
        if name not in params.model_fields_set:
            continue
        value = getattr(params, name)
        if value == baseline.get(name, params.field_default(name)) or value in family.accepted.get(name, ()):
            continue
        raise InvalidParameter(f"{name}: not available on the {family.name} family ({why})", field=name)
    if params.size % family.size_multiple:
        raise InvalidParameter(
            f"size: the {family.name} family renders sizes that are multiples of {family.size_multiple}, "
            f"got {params.size}",
            field="size",
        )


_BLOCK = re.compile(r"^(up|down)_blocks\.(\d+)\.attentions\.(\d+)$")
ATTENTIONS_PER_UP_BLOCK = 3  # layers_per_block + 1 on every family here


def style_only_scales(family: Family, strength: float) -> dict:
    """The IP-Adapter scale map of InstantStyle's style-only injection: `strength` in the family's style
    block, 0 everywhere else (diffusers' `set_ip_adapter_scale` format)."""
    match = _BLOCK.match(family.style_block)
    if match is None or match.group(1) != "up":
        raise ValueError(f"not an up block attention: {family.style_block}")
    block, attention = int(match.group(2)), int(match.group(3))
    scales = [strength if i == attention else 0.0 for i in range(ATTENTIONS_PER_UP_BLOCK)]
    return {"up": {f"block_{block}": scales}}
