"""The model assets of the real-weights profile (`sd15`): which hub repository each comes from,
exactly which files the loaders read, which of them have fp16 variants, and what needs it.

`models download` fetches these files (nothing else: no pickles, no other formats), `models info`
and `doctor` report them, and the resolver (`profiles.py`) checks the same file lists, so what is
downloaded is what is loaded. Asset repos follow the `S2R_*` overrides (e.g. S2R_CONTROLNET_MODEL).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from .layout import CONTROLNET_FILES, EXTRA_CONTROLNETS, LORA_FILES, TAESD_FILES, required_files

# Weight files whose repos publish an fp16 copy (diffusers' `variant="fp16"` naming).
FP16_VARIANTS = {
    "base": {
        "text_encoder/model.safetensors": "text_encoder/model.fp16.safetensors",
        "unet/diffusion_pytorch_model.safetensors": "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.safetensors": "vae/diffusion_pytorch_model.fp16.safetensors",
    },
    **{
        name: {"diffusion_pytorch_model.safetensors": "diffusion_pytorch_model.fp16.safetensors"}
        for name in ("controlnet", *EXTRA_CONTROLNETS, "tile")
    },
}
NEEDED_BY = {
    "base": "every render; edits (inpainting with the render's own ControlNet: no extra weights)",
    "controlnet": "every render (geometry)",
    "ip_adapter": "styled renders",
    "clip": "retrieval, scores",
    **{name: f"control={name}" for name in EXTRA_CONTROLNETS},
    "lcm_lora": "speed=fast, speed=live",
    "taesd": "speed=live, previews",
    "tile": "upscale (tiled img2img guided by the tile ControlNet)",
}
# `--with` takes feature names too: what each needs.
FEATURES = {"fast": ("lcm_lora",), "live": ("lcm_lora", "taesd"), "previews": ("taesd",), "upscale": ("tile",)}
WEIGHT_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack")


@dataclass(frozen=True)
class Asset:
    name: str
    repo: str  # hub repo id (or a local folder, when a setting points at one)
    files: tuple[str, ...]  # relative to the repo root, full-precision names
    needed_by: str
    optional: bool = False  # fetched only with --with NAME or --all
    licence: str = ""  # as the model card publishes it
    fp16: tuple[tuple[str, str], ...] = ()  # (file, its fp16 copy); empty: FP16_VARIANTS[name]

    def fp16_swaps(self) -> dict[str, str]:
        """Each weight file that has an fp16 copy in the repo -> that copy's name."""
        return dict(self.fp16) if self.fp16 else FP16_VARIANTS.get(self.name, {})

    def files_for(self, variant: str | None) -> tuple[str, ...]:
        """The files to fetch: with variant "fp16", the fp16 copy of each weight that has one."""
        swap = self.fp16_swaps() if variant == "fp16" else {}
        return tuple(swap.get(f, f) for f in self.files)


def hub_ids(settings: Settings) -> dict[str, str]:
    return {
        "base": settings.base_model,
        "controlnet": settings.controlnet_model,
        "ip_adapter": settings.ip_adapter_repo,
        "clip": settings.clip_model,
    }


def sd15_assets(settings: Settings) -> list[Asset]:
    """The assets of the sd15 profile, in the order a render needs them."""
    repos = hub_ids(settings)
    return [Asset(name, repos[name], files, NEEDED_BY[name]) for name, files in required_files(settings).items()]


def controlnet_repos(settings: Settings) -> dict[str, str]:
    """The ControlNet of each control type (ControlNet 1.1 for SD 1.5 unless overridden)."""
    return {
        "canny": settings.controlnet_model,
        "lineart": settings.controlnet_lineart_model,
        "scribble": settings.controlnet_scribble_model,
        "softedge": settings.controlnet_softedge_model,
    }


def optional_assets(settings: Settings) -> list[Asset]:
    """Assets only some features need: the ControlNets of the lineart, scribble and softedge controls,
    the LCM-LoRA of the fast presets, the tiny autoencoder of live renders and previews, and the tile
    ControlNet of upscales."""
    repos = controlnet_repos(settings)
    controlnets = [
        Asset(name, repos[name], CONTROLNET_FILES, NEEDED_BY[name], optional=True) for name in EXTRA_CONTROLNETS
    ]
    return [
        *controlnets,
        Asset("lcm_lora", settings.lcm_lora_model, LORA_FILES, NEEDED_BY["lcm_lora"], optional=True),
        Asset("taesd", settings.taesd_model, TAESD_FILES, NEEDED_BY["taesd"], optional=True),
        Asset("tile", settings.controlnet_tile_model, CONTROLNET_FILES, NEEDED_BY["tile"], optional=True),
    ]


def is_refused(filename: str) -> bool:
    """A weight file in a format that can run code when loaded (pickle) or that we do not load."""
    return filename.lower().endswith(PICKLE_SUFFIXES)
