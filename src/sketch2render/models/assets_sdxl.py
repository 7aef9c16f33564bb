"""The model assets of the real-weights SDXL profile (`sdxl`): which hub repository each comes from,
exactly which files the loaders read (the lists of `layout_sdxl.sdxl_required_files`), which of
them have fp16 copies, their licences as the model cards publish them, and what needs each.

Asset names carry an `sdxl_` prefix where SD 1.5 has an asset of the same role, so both families'
assets can be listed together; `ASSET_FOLDERS` says where each lies in an SDXL model folder. The
retrieval CLIP is the same asset as SD 1.5's (`clip`).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Settings
from .assets import Asset
from .layout_sdxl import SDXL_EXTRAS, SDXL_FOLDERS, sdxl_required_files

# The default hub repository of each asset (S2R_SDXL_BASE and the like may replace them).
SDXL_REPOS = {
    "sdxl_base": "stabilityai/stable-diffusion-xl-base-1.0",
    "sdxl_vae": "madebyollin/sdxl-vae-fp16-fix",
    # xinsir/controlnet-union-sdxl-1.0 publishes ProMax as config_promax.json +
    # diffusion_pytorch_model_promax.safetensors, which `from_pretrained` does not find; this copy
    # renames them to config.json + diffusion_pytorch_model.safetensors (fp16, 2.5 GB), and is the
    # one diffusers' own union img2img/inpaint examples load.
    "sdxl_controlnet": "brad-twinkl/controlnet-union-sdxl-1.0-promax",
    "sdxl_ip_adapter": "h94/IP-Adapter",
    "lightning_lora": "ByteDance/SDXL-Lightning",
    "taesdxl": "madebyollin/taesdxl",
}
LICENCES = {
    "sdxl_base": "CreativeML Open RAIL++-M",
    "sdxl_vae": "MIT",
    "sdxl_controlnet": "Apache-2.0",
    "sdxl_ip_adapter": "Apache-2.0",
    "lightning_lora": "CreativeML Open RAIL++-M",
    "taesdxl": "MIT",
    "clip": "MIT",
}
# Where each asset lies in an SDXL model folder.
ASSET_FOLDERS = {
    "sdxl_base": SDXL_FOLDERS["base"],
    "sdxl_vae": SDXL_FOLDERS["vae"],
    "sdxl_controlnet": SDXL_FOLDERS["controlnet"],
    "sdxl_ip_adapter": SDXL_FOLDERS["ip_adapter"],
    "clip": SDXL_FOLDERS["clip"],
    "lightning_lora": SDXL_EXTRAS["lightning_lora"][0],
    "taesdxl": SDXL_EXTRAS["taesd"][0],
}
_PARTS = {"sdxl_base": "base", "sdxl_vae": "vae", "sdxl_controlnet": "controlnet", "sdxl_ip_adapter": "ip_adapter"}
# The fp16 copies stable-diffusion-xl-base-1.0 publishes (diffusers' `variant="fp16"` naming). The
# others publish none (the union ControlNet copy is fp16 already; the fp16-fix VAE is fp32 weights
# that stay finite when run in fp16).
SDXL_FP16_VARIANTS = {
    "sdxl_base": (
        ("text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors"),
        ("text_encoder_2/model.safetensors", "text_encoder_2/model.fp16.safetensors"),
        ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors"),
    ),
}
NEEDED_BY = {
    "sdxl_base": "every SDXL render",
    "sdxl_vae": "every SDXL render (SDXL's own VAE overflows in fp16)",
    "sdxl_controlnet": "every SDXL render (geometry: every control type; tile for upscale, repaint for edits)",
    "sdxl_ip_adapter": "styled SDXL renders (IP-Adapter Plus and its ViT-H image encoder)",
    "clip": "retrieval, scores",
    "lightning_lora": "SDXL speed=fast, speed=live (SDXL-Lightning 4-step)",
    "taesdxl": "SDXL speed=live, previews",
}
# `--with` feature names for SDXL: what each needs.
SDXL_FEATURES = {"fast": ("lightning_lora",), "live": ("lightning_lora", "taesdxl"), "previews": ("taesdxl",)}


def sdxl_assets(settings: Settings, repos: Mapping[str, str] | None = None) -> list[Asset]:
    """The assets of the sdxl profile, in the order a render needs them, then the optional ones.
    `repos` replaces default repositories by asset name (a hub id or a local folder)."""
    chosen = {**SDXL_REPOS, "clip": settings.clip_model, **(repos or {})}
    files = sdxl_required_files()
    required = [
        Asset(
            name,
            chosen[name],
            files[part],
            NEEDED_BY[name],
            licence=LICENCES[name],
            fp16=SDXL_FP16_VARIANTS.get(name, ()),
        )
        for name, part in _PARTS.items()
    ]
    required.append(Asset("clip", chosen["clip"], files["clip"], NEEDED_BY["clip"], licence=LICENCES["clip"]))
    optional = [
        Asset(
            name,
            chosen[name],
            SDXL_EXTRAS[extra][1],
            NEEDED_BY[name],
            optional=True,
            licence=LICENCES[name],
        )
        for name, extra in (("lightning_lora", "lightning_lora"), ("taesdxl", "taesd"))
    ]
    return [*required, *optional]
