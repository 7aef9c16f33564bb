"""Write an SDXL stand-in model folder in the layout of `layout_sdxl.py`, from the networks of
`components_sdxl.py`: what `stand_ins.build_tiny_sdxl` / `build_sdxl_random` put in place."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .clip_files import clip_vocab, rewrite_pil_processor_names, write_image_processor, write_tokenizer
from .components import PICKLE_SUFFIXES, build_image_encoder, build_taesd, build_vae, write_retrieval_clip
from .components_sdxl import (
    VAE_SCALING_FACTOR,
    build_few_step_lora,
    build_plus_adapter_weights,
    build_sdxl_scheduler,
    build_sdxl_unet,
    build_text_encoders,
    build_union_controlnet,
)
from .layout_sdxl import LIGHTNING_LORA_FILE, SDXL_EXTRAS, SDXL_FOLDERS, SDXL_IP_ADAPTER
from .shapes_sdxl import SdxlShapes

# the base's VAE and the fp16-fix VAE share a seed (their real weights decode nearly the same images)
SDXL_VAE_SEED = 3

if TYPE_CHECKING:
    import torch
    from diffusers import UNet2DConditionModel


def _cast(model: torch.nn.Module, shapes: SdxlShapes) -> torch.nn.Module:
    """fp16 for the full-size stand-in; a no-op for fp32."""
    import torch

    dtype = getattr(torch, shapes.dtype)
    return model if dtype == torch.float32 else model.to(dtype)


def _save_tensors(weights: dict[str, torch.Tensor], path: Path, shapes: SdxlShapes) -> None:
    import torch
    from safetensors.torch import save_file

    dtype = getattr(torch, shapes.dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in weights.items()}, str(path), metadata={"format": "pt"})


def write_sdxl_base(
    root: Path, shapes: SdxlShapes, unet: UNet2DConditionModel, vocab: dict[str, int], merges: list
) -> None:
    """base/: a StableDiffusionXL pipeline folder (UNet, VAE, two text encoders, two CLIP
    tokenizers as vocab.json + merges.txt, Euler scheduler), as stable-diffusion-xl-base-1.0."""
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTokenizer

    base = root / SDXL_FOLDERS["base"]
    for name in ("tokenizer", "tokenizer_2"):
        write_tokenizer(base / name, vocab, merges)
    text_encoder, text_encoder_2 = build_text_encoders(shapes, vocab)
    pipe = StableDiffusionXLPipeline(
        vae=_cast(
            build_vae(shapes, seed_offset=SDXL_VAE_SEED, scaling_factor=VAE_SCALING_FACTOR, force_upcast=True), shapes
        ),
        text_encoder=_cast(text_encoder, shapes),
        text_encoder_2=_cast(text_encoder_2, shapes),
        tokenizer=CLIPTokenizer.from_pretrained(base / "tokenizer"),
        tokenizer_2=CLIPTokenizer.from_pretrained(base / "tokenizer_2"),
        unet=_cast(unet, shapes),
        scheduler=build_sdxl_scheduler(),
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.save_pretrained(base, safe_serialization=True)
    for name in ("tokenizer", "tokenizer_2"):  # transformers 5 writes only tokenizer.json: write CLIP's files
        shutil.rmtree(base / name)
        write_tokenizer(base / name, vocab, merges)


def write_ip_adapter(root: Path, shapes: SdxlShapes, weights: dict[str, torch.Tensor]) -> None:
    """h94 layout: ip-adapter/sdxl_models/<Plus weights> and ip-adapter/models/image_encoder/ (the
    SD 1.5 stand-in's own encoder, byte for byte: h94 uses one ViT-H for both families)."""
    folder = root / SDXL_FOLDERS["ip_adapter"]
    encoder = folder / SDXL_IP_ADAPTER["image_encoder_folder"]
    _cast(build_image_encoder(shapes.shared), shapes).save_pretrained(encoder)
    write_image_processor(encoder, shapes.shared.image_encoder["image_size"])
    _save_tensors(weights, folder / SDXL_IP_ADAPTER["subfolder"] / SDXL_IP_ADAPTER["weight_name"], shapes)


def write_few_step_lora(root: Path, shapes: SdxlShapes, unet: UNet2DConditionModel) -> None:
    """lightning-lora/sdxl_lightning_4step_lora.safetensors, in that file's kohya-style key layout."""
    folder = root / SDXL_EXTRAS["lightning_lora"][0]
    _save_tensors(build_few_step_lora(unet, shapes), folder / LIGHTNING_LORA_FILE, shapes)


def write_sdxl_models(root: Path, shapes: SdxlShapes) -> None:
    """Every network of an SDXL model folder. The UNet is built first: the ControlNet copies it,
    and the IP-Adapter's and the LoRA's keys follow its modules."""
    vocab, merges = clip_vocab()
    unet = build_sdxl_unet(shapes)
    controlnet = build_union_controlnet(unet, shapes)
    _cast(controlnet, shapes).save_pretrained(root / SDXL_FOLDERS["controlnet"], safe_serialization=True)
    del controlnet
    ip_weights = build_plus_adapter_weights(unet, shapes)
    write_sdxl_base(root, shapes, unet, vocab, merges)
    vae = build_vae(
        shapes, seed_offset=SDXL_VAE_SEED, scaling_factor=VAE_SCALING_FACTOR, force_upcast=False
    )  # madebyollin/sdxl-vae-fp16-fix runs in fp16
    _cast(vae, shapes).save_pretrained(root / SDXL_FOLDERS["vae"], safe_serialization=True)
    taesdxl = build_taesd(shapes)  # TAESDXL has TAESD's architecture (with SDXL-trained weights)
    _cast(taesdxl, shapes).save_pretrained(root / SDXL_EXTRAS["taesd"][0], safe_serialization=True)
    write_ip_adapter(root, shapes, ip_weights)
    write_retrieval_clip(root, shapes.shared, vocab, merges)
    write_few_step_lora(root, shapes, unet)
    rewrite_pil_processor_names(root)
    unsafe = [p for p in root.rglob("*") if p.suffix in PICKLE_SUFFIXES]
    if unsafe:
        raise RuntimeError(f"pickle-format weights were written: {unsafe}")
