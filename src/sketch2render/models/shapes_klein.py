"""The sizes of the FLUX.2 [klein] stand-ins: `TINY_KLEIN` (tests: seconds to build) and
`KLEIN_RANDOM` (the real FLUX.2 [klein] 4B shapes with random weights, for GPU benchmarks).

The keyword dicts go straight to diffusers' `Flux2Transformer2DModel` and `AutoencoderKLFlux2` and
to transformers' `Qwen3Config`. Two couplings hold in both: the transformer reads three stacked
hidden states of the text encoder (`joint_attention_dim == 3 * text hidden_size`), and it sees the
VAE's latents folded 2x2 (`in_channels == 4 * latent_channels`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .shapes import SD15_RANDOM, TINY, Shapes

# The text encoder layers whose hidden states the pipeline stacks (its `text_encoder_out_layers`).
TEXT_LAYERS = (9, 18, 27)


@dataclass(frozen=True)
class KleinShapes:
    """Sizes of every network of a klein model folder."""

    transformer: dict  # Flux2Transformer2DModel kwargs
    vae: dict  # AutoencoderKLFlux2 kwargs
    text: dict  # Qwen3Config kwargs (vocab_size: see text_vocab_size)
    clip: Shapes  # the retrieval CLIP comes from these SD 1.5 shapes (byte-identical clip/)
    dtype: str  # on disk
    text_vocab_size: int | None = None  # None: exactly the built tokenizer's vocabulary
    text_shard_size: str | None = None  # shard the text encoder like the real repo (2 files)
    responsive: bool = False  # gains that make the conditioning visible with random weights
    seed: int = 0


_VAE_BLOCKS = {
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "in_channels": 3,
    "out_channels": 3,
}

# Tiny, but the real layout: 28 text layers so that the default layers (9, 18, 27) exist, a VAE
# with four blocks (8x, then the 2x2 fold: 16 px per token), 32 latent channels, real schedulers.
TINY_KLEIN = KleinShapes(
    transformer=dict(
        patch_size=1,
        in_channels=128,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=48,
        timestep_guidance_channels=32,
        mlp_ratio=3.0,
        axes_dims_rope=(4, 4, 4, 4),
        rope_theta=2000,
        eps=1e-6,
        guidance_embeds=False,
    ),
    vae=dict(
        **_VAE_BLOCKS,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        latent_channels=32,
        norm_num_groups=8,
        sample_size=64,
        patch_size=(2, 2),
    ),
    text=dict(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=28,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=1024,
        rope_theta=1000000,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
    ),
    clip=TINY,
    dtype="float32",
    responsive=True,
)

# The published configs of black-forest-labs/FLUX.2-klein-4B: a 3.9 B transformer (5 double and
# 20 single blocks, 24 heads of 128), the FLUX.2 VAE (84 M, 32 latent channels) and Qwen3-4B
# (36 layers, 2560 wide, 4.0 B). bf16 on disk, the text encoder in two shards as published.
KLEIN_RANDOM = KleinShapes(
    transformer=dict(
        patch_size=1,
        in_channels=128,
        num_layers=5,
        num_single_layers=20,
        attention_head_dim=128,
        num_attention_heads=24,
        joint_attention_dim=7680,
        timestep_guidance_channels=256,
        mlp_ratio=3.0,
        axes_dims_rope=(32, 32, 32, 32),
        rope_theta=2000,
        eps=1e-6,
        guidance_embeds=False,
    ),
    vae=dict(
        **_VAE_BLOCKS,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=32,
        norm_num_groups=32,
        sample_size=1024,
        patch_size=(2, 2),
    ),
    text=dict(
        hidden_size=2560,
        intermediate_size=9728,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        rope_theta=1000000,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
    ),
    clip=SD15_RANDOM,
    dtype="bfloat16",
    text_vocab_size=151936,
    text_shard_size="5GB",
)
