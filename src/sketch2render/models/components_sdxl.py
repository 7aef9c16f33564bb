"""One builder per network of an SDXL stand-in model folder, as diffusers' tests build dummy SDXL
components: the UNet with SDXL's block layout and `text_time` embedding, the two text encoders,
the union ControlNet, the VAE, the IP-Adapter Plus weights (h94's key layout), the few-step LoRA
(SDXL-Lightning's key layout) and the tiny autoencoder.

Each builder seeds itself from `shapes.seed` (plus a fixed offset per component), so two builds
write the same bytes whatever order they run in. Random weights: images are noise, but every knob
acts (the ControlNet's zero convolutions get small random weights, as `components.build_controlnet`
does). Heavy imports (torch, diffusers, transformers) stay inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .shapes_sdxl import SdxlShapes

if TYPE_CHECKING:
    import torch
    from diffusers import (
        ControlNetUnionModel,
        EulerDiscreteScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

DOWN_BLOCKS = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
UP_BLOCKS = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")
VAE_SCALING_FACTOR = 0.13025  # SDXL's latent scale (SD 1.5: 0.18215)
RESAMPLER_DEPTH = 4  # diffusers' IPAdapterPlusImageProjection always has four blocks
RESAMPLER_HEAD_DIM = 64  # diffusers reads the heads back as to_q's rows // 64


def _special_tokens(vocab: dict[str, int]) -> dict[str, int]:
    special = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"]}
    return {**special, "pad_token_id": special["eos_token_id"]}


def build_sdxl_unet(shapes: SdxlShapes) -> UNet2DConditionModel:
    """UNet2DConditionModel with SDXL's block layout: DownBlock2D then two cross-attention blocks
    (mirrored on the way up), `text_time` added embeddings, linear projections."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(shapes.seed)
    return UNet2DConditionModel(
        sample_size=shapes.latent_size,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=shapes.unet_channels,
        down_block_types=DOWN_BLOCKS,
        up_block_types=UP_BLOCKS,
        attention_head_dim=shapes.unet_heads,
        transformer_layers_per_block=shapes.transformer_layers,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=shapes.time_embed_dim,
        projection_class_embeddings_input_dim=shapes.add_embed_dim,
        cross_attention_dim=shapes.cross_dim,
        norm_num_groups=shapes.norm_groups,
    )


def build_union_controlnet(unet: UNet2DConditionModel, shapes: SdxlShapes) -> ControlNetUnionModel:
    """The union ControlNet, copied from the UNet as `ControlNetUnionModel.from_unet` does. Built
    here rather than by `from_unet`, which keeps the control-type transformer at 320 channels
    (the real UNet's first block) instead of following the UNet."""
    import torch
    from diffusers import ControlNetUnionModel

    torch.manual_seed(shapes.seed + 1)
    config = unet.config
    width = config.block_out_channels[0]  # the control-type transformer works on the first block's features
    controlnet = ControlNetUnionModel(
        in_channels=config.in_channels,
        flip_sin_to_cos=config.flip_sin_to_cos,
        freq_shift=config.freq_shift,
        down_block_types=config.down_block_types,
        only_cross_attention=config.only_cross_attention,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        downsample_padding=config.downsample_padding,
        mid_block_scale_factor=config.mid_block_scale_factor,
        act_fn=config.act_fn,
        norm_num_groups=config.norm_num_groups,
        norm_eps=config.norm_eps,
        cross_attention_dim=config.cross_attention_dim,
        transformer_layers_per_block=config.transformer_layers_per_block,
        attention_head_dim=config.attention_head_dim,
        num_attention_heads=config.num_attention_heads,
        use_linear_projection=config.use_linear_projection,
        addition_embed_type=config.addition_embed_type,
        addition_time_embed_dim=config.addition_time_embed_dim,
        projection_class_embeddings_input_dim=config.projection_class_embeddings_input_dim,
        upcast_attention=config.upcast_attention,
        resnet_time_scale_shift=config.resnet_time_scale_shift,
        conditioning_embedding_out_channels=shapes.cond_channels,
        num_control_type=shapes.control_types,
        num_trans_channel=width,
        num_trans_head=shapes.union_heads,
        num_trans_layer=1,
        num_proj_channel=width,
    )
    for part in ("conv_in", "time_proj", "time_embedding", "add_time_proj", "add_embedding"):
        getattr(controlnet, part).load_state_dict(getattr(unet, part).state_dict())
    controlnet.down_blocks.load_state_dict(unet.down_blocks.state_dict())
    controlnet.mid_block.load_state_dict(unet.mid_block.state_dict())
    generator = torch.Generator().manual_seed(shapes.seed + 2)
    with torch.no_grad():
        # The zero layers get small random weights: otherwise a random ControlNet changes nothing.
        for layer in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block, controlnet.spatial_ch_projs]:
            layer.weight.normal_(0.0, layer.weight[0].numel() ** -0.5, generator=generator)
        # The control image's encoder gets He-scaled weights: with the default ones its features fade
        # to ~1e-2 over eight convolutions, and the control image would hardly matter.
        embedding = controlnet.controlnet_cond_embedding
        for conv in [embedding.conv_in, *embedding.blocks, embedding.conv_out]:
            conv.weight.normal_(0.0, (2.0 / conv.weight[0].numel()) ** 0.5, generator=generator)
    return controlnet


def build_text_encoders(shapes: SdxlShapes, vocab: dict[str, int]) -> tuple[CLIPTextModel, CLIPTextModelWithProjection]:
    """text_encoder (CLIP ViT-L's text tower) and text_encoder_2 (OpenCLIP bigG's, with projection:
    its pooled output is SDXL's `text_embeds`)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    common = dict(vocab_size=shapes.text_vocab_size or len(vocab), max_position_embeddings=77, **_special_tokens(vocab))
    torch.manual_seed(shapes.seed + 4)
    first = CLIPTextModel(CLIPTextConfig(**shapes.text, **common))
    torch.manual_seed(shapes.seed + 5)
    second = CLIPTextModelWithProjection(CLIPTextConfig(**shapes.text_2, **common))
    return first, second


def build_sdxl_scheduler() -> EulerDiscreteScheduler:
    """Euler with SDXL base's scheduler config (scaled-linear betas, leading timesteps)."""
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        prediction_type="epsilon",
        interpolation_type="linear",
        use_karras_sigmas=False,
        steps_offset=1,
        timestep_spacing="leading",
    )


def build_plus_adapter_weights(unet: UNet2DConditionModel, shapes: SdxlShapes) -> dict[str, torch.Tensor]:
    """Random IP-Adapter Plus weights in h94's key layout (ip-adapter-plus_sdxl_vit-h): the
    Resampler (`image_proj.latents`, `proj_in`, `proj_out`, `norm_out`, `layers.{i}.0` perceiver
    attention with norm1/norm2/to_q/to_kv/to_out, `layers.{i}.1` feed-forward LayerNorm/Linear/GELU/
    Linear) and `ip_adapter.{k}.to_k_ip/to_v_ip` for k = 1, 3, 5, … over the cross-attention
    processors in `unet.attn_processors` order."""
    import torch

    generator = torch.Generator().manual_seed(shapes.seed + 6)

    def linear(rows: int, cols: int) -> torch.Tensor:
        return torch.randn(rows, cols, generator=generator) * cols**-0.5

    hidden, embed, cross = shapes.resampler_hidden, shapes.shared.image_encoder["hidden_size"], shapes.cross_dim
    inner = (hidden // RESAMPLER_HEAD_DIM) * RESAMPLER_HEAD_DIM
    weights = {
        "image_proj.latents": torch.randn(1, shapes.resampler_queries, hidden, generator=generator) * hidden**-0.5,
        "image_proj.proj_in.weight": linear(hidden, embed),
        "image_proj.proj_in.bias": torch.zeros(hidden),
        "image_proj.proj_out.weight": linear(cross, hidden),
        "image_proj.proj_out.bias": torch.zeros(cross),
        "image_proj.norm_out.weight": torch.ones(cross),
        "image_proj.norm_out.bias": torch.zeros(cross),
    }
    for i in range(RESAMPLER_DEPTH):
        block = f"image_proj.layers.{i}"
        for norm in ("0.norm1", "0.norm2", "1.0"):
            weights[f"{block}.{norm}.weight"] = torch.ones(hidden)
            weights[f"{block}.{norm}.bias"] = torch.zeros(hidden)
        weights[f"{block}.0.to_q.weight"] = linear(inner, hidden)
        weights[f"{block}.0.to_kv.weight"] = linear(2 * inner, hidden)
        weights[f"{block}.0.to_out.weight"] = linear(hidden, inner)
        weights[f"{block}.1.1.weight"] = linear(4 * hidden, hidden)
        weights[f"{block}.1.3.weight"] = linear(hidden, 4 * hidden)
    channels = shapes.unet_channels
    key_id = 1
    for name in unet.attn_processors:  # the order diffusers' loader walks
        if not name.endswith("attn2.processor"):
            continue
        if name.startswith("mid_block"):
            width = channels[-1]
        elif name.startswith("up_blocks"):
            width = channels[::-1][int(name.split(".")[1])]
        else:
            width = channels[int(name.split(".")[1])]
        for proj in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{key_id}.{proj}.weight"] = linear(width, cross)
        key_id += 2
    return weights


# The modules the SDXL-Lightning and LCM-LoRA SDXL files adapt (788 on the real UNet).
LORA_TARGETS = (
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "proj_in",
    "proj_out",
    "ff.net.0.proj",
    "ff.net.2",
    "conv1",
    "conv2",
    "conv_shortcut",
    "downsamplers.0.conv",
    "upsamplers.0.conv",
    "time_emb_proj",
)


def build_few_step_lora(unet: UNet2DConditionModel, shapes: SdxlShapes) -> dict[str, torch.Tensor]:
    """A random LoRA in the key layout of sdxl_lightning_4step_lora.safetensors: kohya-style
    `lora_unet_<diffusers module path, dots as underscores>.lora_down.weight` / `.lora_up.weight` /
    `.alpha` (a 0-d tensor) over every module of LORA_TARGETS. Random down and up weights (not
    the usual zero up), so that it changes the output. The UNet is left as it is."""
    import torch

    generator = torch.Generator().manual_seed(shapes.seed + 7)
    rank = shapes.lora_rank
    weights: dict[str, torch.Tensor] = {}
    for name, module in unet.named_modules():
        if not any(name == t or name.endswith("." + t) for t in LORA_TARGETS):
            continue
        key = "lora_unet_" + name.replace(".", "_")
        if isinstance(module, torch.nn.Conv2d):
            kernel = tuple(module.kernel_size)
            down = torch.randn(rank, module.in_channels, *kernel, generator=generator)
            up = torch.randn(module.out_channels, rank, 1, 1, generator=generator)
            fan_in = module.in_channels * kernel[0] * kernel[1]
        elif isinstance(module, torch.nn.Linear):
            down = torch.randn(rank, module.in_features, generator=generator)
            up = torch.randn(module.out_features, rank, generator=generator)
            fan_in = module.in_features
        else:
            continue
        weights[f"{key}.lora_down.weight"] = down * fan_in**-0.5
        weights[f"{key}.lora_up.weight"] = up * (0.1 * rank**-0.5)
        weights[f"{key}.alpha"] = torch.tensor(float(rank))
    return weights
