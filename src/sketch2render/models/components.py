"""One builder per network of a stand-in model folder, as diffusers' tests build dummy components.

Each builder seeds itself from `shapes.seed` (plus a fixed offset per component), so two builds
write the same bytes whatever order the components are built in. `write_models` saves them in
the model-folder layout (`layout.py`). Random weights: images are noise, but every knob acts.
Heavy imports (torch, diffusers, transformers) stay inside the functions.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .clip_files import clip_vocab, rewrite_pil_processor_names, write_image_processor, write_tokenizer
from .layout import EXTRA_CONTROLNETS, EXTRAS, controlnet_folder
from .shapes import Shapes
from .shapes_sdxl import SdxlShapes

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, ControlNetModel, UNet2DConditionModel, UniPCMultistepScheduler
    from transformers import CLIPModel, CLIPTextModel, CLIPVisionModelWithProjection

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def _dtype(shapes: Shapes) -> torch.dtype:
    import torch

    return getattr(torch, shapes.dtype)


def _cast(model: torch.nn.Module, shapes: Shapes) -> torch.nn.Module:
    """fp16 for the full-size stand-in; a no-op for fp32 (which also spares diffusers' notice)."""
    import torch

    dtype = _dtype(shapes)
    return model if dtype == torch.float32 else model.to(dtype)


def _special_tokens(vocab: dict[str, int]) -> dict[str, int]:
    special = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"]}
    return {**special, "pad_token_id": special["eos_token_id"]}


def build_unet(shapes: Shapes) -> UNet2DConditionModel:
    """UNet with the SD 1.5 block layout (16 cross-attention layers with layers_per_block=2)."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(shapes.seed)
    return UNet2DConditionModel(
        sample_size=shapes.latent_size,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=shapes.unet_channels,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=shapes.cross_dim,
        attention_head_dim=shapes.unet_heads,
        norm_num_groups=shapes.norm_groups,
    )


def build_controlnet(unet: UNet2DConditionModel, shapes: Shapes, variant_seed: int = 1) -> ControlNetModel:
    """ControlNet copied from the UNet; its zero convolutions get small random weights, otherwise
    a random ControlNet would change nothing and no test could see it act. `variant_seed` tells
    the stand-ins of the control types apart (canny: 1)."""
    import torch
    from diffusers import ControlNetModel

    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=shapes.cond_channels)
    generator = torch.Generator().manual_seed(shapes.seed + variant_seed)
    with torch.no_grad():
        zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
        for conv in [*zero_convs, controlnet.controlnet_cond_embedding.conv_out]:
            conv.weight.normal_(0.0, conv.weight[0].numel() ** -0.5, generator=generator)
    return controlnet


def build_vae(
    shapes: Shapes | SdxlShapes, *, seed_offset: int = 2, scaling_factor: float = 0.18215, force_upcast: bool = True
) -> AutoencoderKL:
    """AutoencoderKL with scale factor 8 (four blocks). SD 1.5's latent scale and diffusers' own
    defaults unless a family says otherwise (SDXL: its latent scale; the fp16-fix VAE: no upcast)."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(shapes.seed + seed_offset)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(shapes.vae_channels),
        up_block_types=("UpDecoderBlock2D",) * len(shapes.vae_channels),
        block_out_channels=shapes.vae_channels,
        layers_per_block=shapes.vae_layers,
        latent_channels=4,
        norm_num_groups=shapes.vae_norm_groups,
        sample_size=shapes.latent_size * 8,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
    )


def build_text_encoder(shapes: Shapes, vocab: dict[str, int]) -> CLIPTextModel:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(shapes.seed + 3)
    config = CLIPTextConfig(
        **shapes.text,
        vocab_size=shapes.text_vocab_size or len(vocab),
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        **_special_tokens(vocab),
    )
    return CLIPTextModel(config)


def build_scheduler() -> UniPCMultistepScheduler:
    """UniPC with the SD 1.5 noise schedule."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
    )


def build_ip_adapter_weights(unet: UNet2DConditionModel, shapes: Shapes) -> dict[str, torch.Tensor]:
    """Random weights in the h94 ip-adapter_sd15 key layout, strong enough to change the output."""
    import torch

    generator = torch.Generator().manual_seed(shapes.seed + 4)
    image_dim = shapes.image_encoder["projection_dim"]
    cross = shapes.cross_dim
    weights = {
        "image_proj.proj.weight": torch.randn(cross * 4, image_dim, generator=generator) * image_dim**-0.5,
        "image_proj.proj.bias": torch.zeros(cross * 4),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    channels = shapes.unet_channels
    key_id = 1
    for name in unet.attn_processors:  # the order diffusers' loader walks
        if not name.endswith("attn2.processor"):
            continue
        block = int(name.split(".")[1]) if not name.startswith("mid_block") else None
        if block is None:
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = channels[::-1][block]
        else:
            hidden = channels[block]
        for proj in ("to_k_ip", "to_v_ip"):
            weight = torch.randn(hidden, cross, generator=generator) * cross**-0.5
            weights[f"ip_adapter.{key_id}.{proj}.weight"] = weight
        key_id += 2
    return weights


def build_image_encoder(shapes: Shapes) -> CLIPVisionModelWithProjection:
    """The IP-Adapter's CLIP vision tower with projection."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(shapes.seed + 5)
    return CLIPVisionModelWithProjection(CLIPVisionConfig(**shapes.image_encoder))


def build_retrieval_clip(shapes: Shapes, vocab: dict[str, int]) -> CLIPModel:
    """The dual-tower CLIP that retrieval embeds prompts and style images with."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(shapes.seed + 6)
    config = CLIPConfig(
        text_config={
            **shapes.clip_text,
            "vocab_size": len(vocab),
            "max_position_embeddings": 77,
            **_special_tokens(vocab),
        },
        vision_config=shapes.clip_vision,
        projection_dim=shapes.clip_projection,
    )
    return CLIPModel(config)


def build_lcm_lora(unet: UNet2DConditionModel, shapes: Shapes) -> dict[str, torch.Tensor]:
    """A random LoRA on the UNet's attention projections, as peft's state dict: the stand-in of the
    LCM-LoRA. Random A and B (not peft's identity start), so that it changes the output."""
    import copy

    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(shapes.seed + 7)
    target = copy.deepcopy(unet)  # adding an adapter changes the model it is added to
    config = LoraConfig(
        r=shapes.lora_rank,
        lora_alpha=shapes.lora_rank,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        init_lora_weights=False,
    )
    target.add_adapter(config)
    return get_peft_model_state_dict(target)


def build_taesd(shapes: Shapes | SdxlShapes) -> AutoencoderTiny:
    """The tiny autoencoder (TAESD's architecture, TAESDXL's too; the real ones have 64 channels per block)."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(shapes.seed + 8)
    taesd = AutoencoderTiny(
        encoder_block_out_channels=shapes.taesd_channels,
        decoder_block_out_channels=shapes.taesd_channels,
        latent_channels=4,
    )
    with torch.no_grad():  # random weights decode to near-black; these give visible mid-grey noise
        last = taesd.decoder.layers[-1]
        last.weight.mul_(8.0)
        last.bias.fill_(0.4)
    return taesd


# --------------------------------------------------------------------------- saving


def write_lcm_lora(root: Path, shapes: Shapes, unet: UNet2DConditionModel) -> None:
    """lcm-lora/pytorch_lora_weights.safetensors, in the layout diffusers' `save_lora_weights` writes."""
    from diffusers import StableDiffusionPipeline

    weights = {k: v.to(_dtype(shapes)).contiguous() for k, v in build_lcm_lora(unet, shapes).items()}
    StableDiffusionPipeline.save_lora_weights(
        root / EXTRAS["lcm_lora"][0], unet_lora_layers=weights, safe_serialization=True
    )


def write_base(root: Path, shapes: Shapes, unet: UNet2DConditionModel, vocab: dict[str, int], merges: list) -> None:
    """The base pipeline folder: UNet, VAE, text encoder, CLIP tokenizer files, scheduler."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    tokenizer_dir = root / "base" / "tokenizer"
    write_tokenizer(tokenizer_dir, vocab, merges)
    pipe = StableDiffusionPipeline(
        vae=_cast(build_vae(shapes), shapes),
        text_encoder=_cast(build_text_encoder(shapes, vocab), shapes),
        tokenizer=CLIPTokenizer.from_pretrained(tokenizer_dir),
        unet=_cast(unet, shapes),
        scheduler=build_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(root / "base", safe_serialization=True)
    shutil.rmtree(tokenizer_dir)  # transformers 5 writes only tokenizer.json: write CLIP's files
    write_tokenizer(tokenizer_dir, vocab, merges)


def write_ip_adapter(root: Path, shapes: Shapes, weights: dict) -> None:
    """h94 layout: ip-adapter/models/ip-adapter_sd15.safetensors and its image_encoder/."""
    from safetensors.torch import save_file

    models = root / "ip-adapter" / "models"
    _cast(build_image_encoder(shapes), shapes).save_pretrained(models / "image_encoder")
    write_image_processor(models / "image_encoder", shapes.image_encoder["image_size"])
    dtype = _dtype(shapes)
    save_file(
        {k: v.to(dtype).contiguous() for k, v in weights.items()},
        str(models / "ip-adapter_sd15.safetensors"),
        metadata={"format": "pt"},
    )


def write_retrieval_clip(root: Path, shapes: Shapes, vocab: dict[str, int], merges: list) -> None:
    _cast(build_retrieval_clip(shapes, vocab), shapes).save_pretrained(root / "clip")
    write_tokenizer(root / "clip", vocab, merges)
    write_image_processor(root / "clip", shapes.clip_vision["image_size"])


def write_models(root: Path, shapes: Shapes) -> None:
    """Every network of a model folder. The UNet is built first: the ControlNet copies it and
    the IP-Adapter's keys follow its attention processors."""
    vocab, merges = clip_vocab()
    unet = build_unet(shapes)
    controlnet = build_controlnet(unet, shapes)
    ip_weights = build_ip_adapter_weights(unet, shapes)
    write_base(root, shapes, unet, vocab, merges)
    _cast(controlnet, shapes).save_pretrained(root / "controlnet", safe_serialization=True)
    if shapes.extra_controlnets:  # stand-ins for the lineart, scribble and softedge ControlNets
        for offset, kind in enumerate(EXTRA_CONTROLNETS, start=10):
            extra = build_controlnet(unet, shapes, variant_seed=offset)
            _cast(extra, shapes).save_pretrained(root / controlnet_folder(kind), safe_serialization=True)
    tile = build_controlnet(unet, shapes, variant_seed=20)  # the tile ControlNet's stand-in (upscale)
    _cast(tile, shapes).save_pretrained(root / EXTRAS["tile"][0], safe_serialization=True)
    del tile
    write_lcm_lora(root, shapes, unet)
    _cast(build_taesd(shapes), shapes).save_pretrained(root / EXTRAS["taesd"][0], safe_serialization=True)
    del unet, controlnet
    write_ip_adapter(root, shapes, ip_weights)
    write_retrieval_clip(root, shapes, vocab, merges)
    rewrite_pil_processor_names(root)
    unsafe = [p for p in root.rglob("*") if p.suffix in PICKLE_SUFFIXES]
    if unsafe:
        raise RuntimeError(f"pickle-format weights were written: {unsafe}")
