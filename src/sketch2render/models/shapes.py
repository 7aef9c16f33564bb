"""The sizes of the local stand-in models: `TINY` (tests, CI: seconds to build, ~18 MB) and
`SD15_RANDOM` (the real SD 1.5 shapes with random weights, for speed and memory benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shapes:
    """Sizes of every network a model folder holds. CLIP kwargs go to transformers' configs."""

    unet_channels: tuple[int, ...]
    unet_heads: int  # diffusers' `attention_head_dim`, which on SD 1.5 means heads
    norm_groups: int
    latent_size: int
    cross_dim: int
    cond_channels: tuple[int, ...]  # ControlNet conditioning embedding (4 entries = /8)
    vae_channels: tuple[int, ...]
    vae_layers: int
    vae_norm_groups: int
    text: dict  # CLIPTextConfig of the SD text encoder (hidden_size == cross_dim)
    image_encoder: dict  # CLIPVisionConfig of the IP-Adapter image encoder
    clip_text: dict
    clip_vision: dict
    clip_projection: int
    dtype: str
    text_vocab_size: int | None = None  # None: exactly the tokenizer's vocabulary
    extra_controlnets: bool = True  # stand-ins for lineart/scribble/softedge (not for sd15-random: +2 GB)
    lora_rank: int = 4  # the LCM-LoRA stand-in (the real one: 64)
    taesd_channels: tuple[int, ...] = (16, 16, 16, 16)  # the tiny autoencoder (the real TAESD: 64)
    seed: int = 0


def _tiny_clip() -> dict:
    return dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)


TINY = Shapes(
    unet_channels=(32, 32, 64, 64),
    unet_heads=8,
    norm_groups=8,
    latent_size=8,
    cross_dim=32,
    cond_channels=(16, 16, 32, 32),
    vae_channels=(8, 16, 16, 16),
    vae_layers=1,
    vae_norm_groups=8,
    text={**_tiny_clip(), "projection_dim": 32},
    image_encoder={**_tiny_clip(), "image_size": 224, "patch_size": 32, "projection_dim": 32},
    clip_text=_tiny_clip(),
    clip_vision={**_tiny_clip(), "image_size": 224, "patch_size": 32},
    clip_projection=32,
    dtype="float32",
)

# The shapes of the real checkpoints (860 M UNet, 361 M ControlNet, 84 M VAE, ViT-L/14 text
# encoder, ViT-H/14 image encoder, ViT-B/32 retrieval CLIP); fp16 on disk.
SD15_RANDOM = Shapes(
    unet_channels=(320, 640, 1280, 1280),
    unet_heads=8,
    norm_groups=32,
    latent_size=64,
    cross_dim=768,
    cond_channels=(16, 32, 96, 256),
    vae_channels=(128, 256, 512, 512),
    vae_layers=2,
    vae_norm_groups=32,
    text=dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        projection_dim=768,
    ),
    image_encoder=dict(
        hidden_size=1280,
        intermediate_size=5120,
        num_hidden_layers=32,
        num_attention_heads=16,
        image_size=224,
        patch_size=14,
        projection_dim=1024,
        hidden_act="gelu",
    ),
    clip_text=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8),
    clip_vision=dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        image_size=224,
        patch_size=32,
    ),
    clip_projection=512,
    dtype="float16",
    text_vocab_size=49408,
    extra_controlnets=False,
    lora_rank=64,
    taesd_channels=(64, 64, 64, 64),
)
