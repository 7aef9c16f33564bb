"""The on-disk layout of a model folder, and where the Hugging Face cache keeps hub models.

A model folder (ours, built by `stand_ins`, or a user's local copy of the real weights):

    base/  controlnet/  ip-adapter/<subfolder>/<weight>  ip-adapter/<subfolder>/image_encoder/
    clip/  s2r-models.json (the marker, written last by our builds)

Nothing here loads a model or touches the network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import Settings

MARKER = "s2r-models.json"
FOLDERS = {"base": "base", "controlnet": "controlnet", "ip_adapter": "ip-adapter", "clip": "clip"}
# ControlNets for the other control types: optional in a model folder (ours always has them).
EXTRA_CONTROLNETS = ("lineart", "scribble", "softedge")
CONTROLNET_FILES = ("config.json", "diffusion_pytorch_model.safetensors")
LORA_FILES = ("pytorch_lora_weights.safetensors",)
TAESD_FILES = ("config.json", "diffusion_pytorch_model.safetensors")
# The retrieval CLIP's folder (the same in every family's model folder).
CLIP_FILES = (
    "config.json",
    "model.safetensors",
    "merges.txt",
    "vocab.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
)
# Every optional part of a model folder: name -> (folder, files). The speed presets need the last two.
EXTRAS = {
    **{kind: (f"controlnet-{kind}", CONTROLNET_FILES) for kind in EXTRA_CONTROLNETS},
    "lcm_lora": ("lcm-lora", LORA_FILES),  # few-step distillation LoRA (speed fast and live)
    "taesd": ("taesd", TAESD_FILES),  # the tiny autoencoder (speed live, and previews)
    "tile": ("controlnet-tile", CONTROLNET_FILES),  # the tile ControlNet (upscale: tiled img2img)
}
# Edits (inpainting) need no weights of their own: the base UNet with the render's own ControlNet in
# diffusers' StableDiffusionControlNetInpaintPipeline, built from the loaded components (render/derived.py).
LAYOUT_VERSION = 4  # 2: controlnet-<type>/; 3: lcm-lora/ and taesd/; 4: controlnet-tile/


def controlnet_folder(kind: str) -> str:
    """The folder of a control type's ControlNet in a model folder (canny: controlnet/)."""
    return "controlnet" if kind == "canny" else EXTRAS[kind][0]


# What render recipes name (and caches key on): the folders above plus the IP-Adapter's image encoder.
COMPONENTS = ("base", "controlnet", "ip_adapter", "image_encoder", "clip", "vae")
# The scheduler written into built folders: the usual fast choice for ControlNet on SD 1.5.
SCHEDULER = "UniPCMultistepScheduler"
# Our builds always use the h94 IP-Adapter layout.
BUILT_IP_ADAPTER = {"ip_adapter_subfolder": "models", "ip_adapter_weight": "ip-adapter_sd15.safetensors"}


def required_files(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Files each component needs, relative to its folder (or its hub repository root)."""
    sub = settings.ip_adapter_subfolder.strip("/")
    return {
        "base": (
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.safetensors",
        ),
        "controlnet": CONTROLNET_FILES,
        "ip_adapter": (
            f"{sub}/{settings.ip_adapter_weight}",
            f"{sub}/image_encoder/config.json",
            f"{sub}/image_encoder/model.safetensors",
        ),
        "clip": CLIP_FILES,
    }


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("HF_HOME") or Path(xdg) / "huggingface").expanduser() / "hub"


def missing_in_folder(root: Path, settings: Settings) -> list[str]:
    return [
        f"{FOLDERS[name]}/{f}"
        for name, files in required_files(settings).items()
        for f in files
        if not (root / FOLDERS[name] / f).is_file()
    ]


def read_marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


def folder_paths(root: Path) -> dict[str, str]:
    """Where each model lies in a model folder (the layout in this module's docstring)."""
    return {name: str(root / folder) for name, folder in FOLDERS.items()}


def cached_repo_dir(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub repo (`refs/main`), if any."""
    repo = hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    try:
        return repo / "snapshots" / (repo / "refs" / "main").read_text().strip()
    except OSError:
        return None
