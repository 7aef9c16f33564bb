"""The sizes of the SDXL stand-in models: `TINY_SDXL` (tests, CI: seconds to build) and
`SDXL_RANDOM` (the real SDXL, union ControlNet and IP-Adapter Plus shapes with random weights, for
GPU and memory benchmarks).

The IP-Adapter's image encoder and the retrieval CLIP are the SD 1.5 stand-ins' own (`shared`):
h94 uses one ViT-H encoder for both families, and retrieval vectors must not depend on the family.
"""

from __future__ import annotations

from dataclasses import dataclass

from .shapes import SD15_RANDOM, TINY, Shapes


@dataclass(frozen=True)
class SdxlShapes:
    """Sizes of every network of an SDXL model folder. CLIP kwargs go to transformers' configs."""

    unet_channels: tuple[int, ...]  # three blocks: DownBlock2D, CrossAttnDownBlock2D ×2
    unet_heads: tuple[int, ...]  # diffusers' `attention_head_dim`, which on SDXL means heads per block
    transformer_layers: tuple[int, ...]  # transformer blocks per attention, per block
    norm_groups: int
    latent_size: int
    time_embed_dim: int  # `addition_time_embed_dim` (the six size/crop time ids)
    text: dict  # CLIPTextConfig of text_encoder (CLIPTextModel)
    text_2: dict  # CLIPTextConfig of text_encoder_2 (CLIPTextModelWithProjection)
    cond_channels: tuple[int, ...]  # the ControlNet's conditioning embedding (4 entries = /8)
    control_types: int  # the union ControlNet's control-type count
    union_heads: int  # heads of the union ControlNet's control-type transformer
    vae_channels: tuple[int, ...]
    vae_layers: int
    vae_norm_groups: int
    resampler_hidden: int  # IP-Adapter Plus resampler (its heads: hidden // 64)
    resampler_queries: int  # image tokens the resampler gives every cross-attention
    lora_rank: int  # the few-step LoRA's stand-in
    taesd_channels: tuple[int, ...]
    dtype: str
    shared: Shapes  # the SD 1.5 stand-in whose image encoder and retrieval CLIP this one shares
    text_vocab_size: int | None = None  # None: exactly the tokenizer's vocabulary
    seed: int = 100

    @property
    def cross_dim(self) -> int:
        """SDXL's cross-attention width: both text encoders' hidden states side by side."""
        return self.text["hidden_size"] + self.text_2["hidden_size"]

    @property
    def add_embed_dim(self) -> int:
        """`projection_class_embeddings_input_dim`: the pooled text embedding and six time ids."""
        return self.text_2["projection_dim"] + 6 * self.time_embed_dim


def _tiny_clip(**extra: object) -> dict:
    return dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, **extra)


# SDXL's layout in miniature: three UNet blocks, two transformer layers in the deepest ones (so
# up_blocks.0.attentions.1 holds several processors, as on the real model), 64-wide cross-attention.
TINY_SDXL = SdxlShapes(
    unet_channels=(32, 64, 64),
    unet_heads=(2, 4, 4),
    transformer_layers=(1, 1, 2),
    norm_groups=8,
    latent_size=8,
    time_embed_dim=8,
    text=_tiny_clip(projection_dim=32, hidden_act="quick_gelu"),
    text_2=_tiny_clip(projection_dim=32, hidden_act="gelu"),
    cond_channels=(16, 16, 32, 32),
    control_types=8,
    union_heads=4,
    vae_channels=(8, 16, 16, 16),
    vae_layers=1,
    vae_norm_groups=8,
    resampler_hidden=64,
    resampler_queries=16,
    lora_rank=4,
    taesd_channels=(16, 16, 16, 16),
    dtype="float32",
    shared=TINY,
)

# The shapes of the real checkpoints: stable-diffusion-xl-base-1.0's 2.6 B UNet, CLIP ViT-L and
# OpenCLIP ViT-bigG text encoders and 84 M VAE; the union ControlNet (ProMax: 8 control types);
# IP-Adapter Plus (16 queries, 1280 wide, 20 heads) on the ViT-H encoder. fp16 on disk.
SDXL_RANDOM = SdxlShapes(
    unet_channels=(320, 640, 1280),
    unet_heads=(5, 10, 20),
    transformer_layers=(1, 2, 10),
    norm_groups=32,
    latent_size=128,
    time_embed_dim=256,
    text=dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        projection_dim=768,
        hidden_act="quick_gelu",
    ),
    text_2=dict(
        hidden_size=1280,
        intermediate_size=5120,
        num_hidden_layers=32,
        num_attention_heads=20,
        projection_dim=1280,
        hidden_act="gelu",
    ),
    cond_channels=(16, 32, 96, 256),
    control_types=8,
    union_heads=8,
    vae_channels=(128, 256, 512, 512),
    vae_layers=2,
    vae_norm_groups=32,
    resampler_hidden=1280,
    resampler_queries=16,
    lora_rank=64,
    taesd_channels=(64, 64, 64, 64),
    dtype="float16",
    shared=SD15_RANDOM,
    text_vocab_size=49408,
)
