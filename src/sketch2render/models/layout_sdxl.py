"""The on-disk layout of an SDXL model folder (ours, built by `stand_ins`, or a local copy of the
real weights), the union ControlNet's control modes, and InstantStyle's SDXL blocks.

    base/              a StableDiffusionXL pipeline folder (as stabilityai/stable-diffusion-xl-base-1.0)
    vae-fp16-fix/      AutoencoderKL (as madebyollin/sdxl-vae-fp16-fix), passed as `vae=`
    controlnet-union/  ControlNetUnionModel (as xinsir's ProMax union ControlNet, diffusers layout)
    ip-adapter/        sdxl_models/ip-adapter-plus_sdxl_vit-h.safetensors + models/image_encoder/ (h94)
    lightning-lora/    sdxl_lightning_4step_lora.safetensors (ByteDance/SDXL-Lightning)
    taesdxl/           AutoencoderTiny (as madebyollin/taesdxl)
    clip/              the retrieval CLIP (the same as an SD 1.5 folder's)
    s2r-models.json    the marker, written last by our builds ("family": "sdxl")

Nothing here loads a model or touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..families import SDXL, SDXL_CONTROL_MODES, style_only_scales
from .layout import CLIP_FILES, CONTROLNET_FILES, TAESD_FILES, read_marker

SDXL_FAMILY = "sdxl"
# Every part a render needs: name -> folder in the model folder.
SDXL_FOLDERS = {
    "base": "base",
    "vae": "vae-fp16-fix",
    "controlnet": "controlnet-union",
    "ip_adapter": "ip-adapter",
    "clip": "clip",
}
# What SDXL render recipes name (and the marker fingerprints): the folders plus the image encoder.
SDXL_COMPONENTS = ("base", "vae", "controlnet", "ip_adapter", "image_encoder", "clip")
LIGHTNING_LORA_FILE = "sdxl_lightning_4step_lora.safetensors"
# Optional parts (the speed presets): name -> (folder, files).
SDXL_EXTRAS = {
    "lightning_lora": ("lightning-lora", (LIGHTNING_LORA_FILE,)),  # few-step LoRA (speed fast and live)
    "taesd": ("taesdxl", TAESD_FILES),  # the tiny autoencoder (speed live, and previews)
}
# How `pipe.load_ip_adapter(folder / SDXL_FOLDERS["ip_adapter"], **SDXL_IP_ADAPTER)` finds the Plus
# adapter and its ViT-H image encoder (h94/IP-Adapter's layout).
SDXL_IP_ADAPTER = {
    "subfolder": "sdxl_models",
    "weight_name": "ip-adapter-plus_sdxl_vit-h.safetensors",
    "image_encoder_folder": "models/image_encoder",
}
# The few-step preset's scheduler and guidance (SDXL-Lightning's model card: Euler with trailing
# timesteps, as many steps as the checkpoint was distilled for, no classifier-free guidance): the
# family's `fast` preset (families.py) says it; this is its plain-dict view for the stand-in tests.
_FAST = SDXL.preset("fast")
LIGHTNING = {
    "steps": _FAST.steps,
    "guidance_scale": _FAST.guidance_scale,
    "scheduler": _FAST.scheduler,
    **dict(_FAST.scheduler_options),
}

# The union ControlNet's `control_mode` per control type. Source: xinsir6/ControlNetPlus (the
# comment table in its controlnet_union_test_*.py scripts and README, the same as the model card of
# xinsir/controlnet-union-sdxl-1.0): 0 openpose, 1 depth, 2 hed/pidi/scribble/ted, 3
# canny/lineart/anime_lineart/mlsd, 4 normal, 5 segment, 6 tile, 7 repaint (ProMax only: 8 types).
# The ones the product uses are the family's (families.SDXL_CONTROL_MODES); these add the rest.
UNION_CONTROL_MODES = {"openpose": 0, "depth": 1, "normal": 4, "segment": 5, **SDXL_CONTROL_MODES}
UNION_CONTROL_TYPES = 8  # ProMax's `num_control_type` (the first union release: 6, no tile/repaint)

# InstantStyle on SDXL: style lives in up_blocks.0.attentions.1, layout in down_blocks.2.attentions.1.
STYLE_BLOCK = SDXL.style_block
LAYOUT_BLOCK = SDXL.layout_block


def style_only_scale(scale: float) -> dict[str, dict[str, list[float]]]:
    """`pipe.set_ip_adapter_scale(...)` for style-only: the IP-Adapter acts in STYLE_BLOCK only."""
    return style_only_scales(SDXL, scale)


def style_and_layout_scale(scale: float) -> dict[str, dict[str, list[float]]]:
    """InstantStyle's style + layout map: STYLE_BLOCK and LAYOUT_BLOCK."""
    return {"down": {"block_2": [0.0, scale]}, "up": {"block_0": [0.0, scale, 0.0]}}


_TOKENIZER_FILES = ("merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json")
# base/vae/ is left out: the renderer passes the fp16-fix VAE as `vae=`, so nothing reads it.
SDXL_BASE_FILES = (
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "text_encoder_2/config.json",
    "text_encoder_2/model.safetensors",
    *(f"tokenizer/{f}" for f in _TOKENIZER_FILES),
    *(f"tokenizer_2/{f}" for f in _TOKENIZER_FILES),
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
)
VAE_FILES = ("config.json", "diffusion_pytorch_model.safetensors")


def sdxl_required_files() -> dict[str, tuple[str, ...]]:
    """Files each part of SDXL_FOLDERS needs, relative to its folder (or its hub repository root)."""
    encoder = SDXL_IP_ADAPTER["image_encoder_folder"]
    return {
        "base": SDXL_BASE_FILES,
        "vae": VAE_FILES,
        "controlnet": CONTROLNET_FILES,
        "ip_adapter": (
            f"{SDXL_IP_ADAPTER['subfolder']}/{SDXL_IP_ADAPTER['weight_name']}",
            f"{encoder}/config.json",
            f"{encoder}/model.safetensors",
        ),
        "clip": CLIP_FILES,
    }


def sdxl_missing_in_folder(root: Path) -> list[str]:
    """The required files a model folder lacks, as paths relative to it."""
    return [
        f"{SDXL_FOLDERS[name]}/{f}"
        for name, files in sdxl_required_files().items()
        for f in files
        if not (root / SDXL_FOLDERS[name] / f).is_file()
    ]


def sdxl_folder_paths(root: Path) -> dict[str, str]:
    """Where each part lies in an SDXL model folder: SDXL_FOLDERS, the image encoder and the extras."""
    return {
        **{name: str(root / folder) for name, folder in SDXL_FOLDERS.items()},
        "image_encoder": str(root / SDXL_FOLDERS["ip_adapter"] / SDXL_IP_ADAPTER["image_encoder_folder"]),
        **{name: str(root / folder) for name, (folder, _) in SDXL_EXTRAS.items()},
    }


def folder_family(root: Path) -> str | None:
    """The family of a model folder: its marker's (our builds; SD 1.5 markers name none), else what
    base/model_index.json names (a StableDiffusionXL pipeline: sdxl), else None (not a model folder)."""
    marker = read_marker(root)
    if marker is not None:
        return marker.get("family", "sd15")
    try:
        pipeline = json.loads((root / SDXL_FOLDERS["base"] / "model_index.json").read_text()).get("_class_name", "")
    except (OSError, ValueError):
        return None
    return SDXL_FAMILY if "XL" in pipeline else "sd15"
