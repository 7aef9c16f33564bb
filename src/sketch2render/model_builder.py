"""Builders of the local stand-in models: `tiny` (tests, CI) and `sd15-random` (benchmarks).

Random weights with the SD 1.5 block layout (tiny) or its full shapes (sd15-random), written in
the "model folder" layout that models.py resolves (base/, controlnet/, ip-adapter/, clip/, and the
marker last), into a temporary sibling folder renamed into place when complete. Deterministic:
fixed seeds give byte-identical files. Heavy imports stay inside functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelsUnavailable
from .models import FOLDERS, MARKER, SCHEDULER, read_marker


@dataclass(frozen=True)
class _Shapes:
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
    seed: int = 0


def _tiny_clip() -> dict:
    return dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)


TINY = _Shapes(
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
SD15_RANDOM = _Shapes(
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
)


def build_tiny(directory: Path, *, force: bool = False) -> Path:
    """Tiny random models with the SD 1.5 block layout (~16 MB, ~4 s). Same bytes every build."""
    return _build(Path(directory), "tiny", TINY, force=force)


def build_sd15_random(directory: Path, *, force: bool = False) -> Path:
    """Full-size SD 1.5 architecture with random weights (fp16 on disk), for benchmarks."""
    return _build(Path(directory), "sd15-random", SD15_RANDOM, force=force)


def _build(directory: Path, profile: str, shapes: _Shapes, *, force: bool) -> Path:
    """Build into a temporary sibling and rename it into place only when complete."""
    directory = directory.expanduser().absolute()
    if read_marker(directory) is not None and not force:
        return directory
    if directory.is_dir() and any(directory.iterdir()) and read_marker(directory) is None:
        raise ModelsUnavailable(
            f"{directory} exists and is not a model folder built by sketch2render; remove it or choose another folder"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(directory)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.building-", dir=directory.parent))
    try:
        with _quiet_libraries():
            _write_models(tmp, shapes)
        _write_marker(tmp, profile)
        os.chmod(tmp, 0o755)
        _move_into_place(tmp, directory, force=force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


@contextmanager
def _quiet_libraries():
    """No "Writing model shards" bars or fp16 cast notices while building; restored afterwards."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    bars = transformers_logging.is_progress_bar_enabled()
    verbosity = diffusers_logging.get_verbosity()
    transformers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


def _move_into_place(tmp: Path, directory: Path, *, force: bool) -> None:
    old = None
    if force and read_marker(directory) is not None:
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(directory, old)
        except FileNotFoundError:
            old = None
    try:
        os.rename(tmp, directory)  # atomic; fails if another process finished first
    except OSError:
        if read_marker(directory) is None:
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _remove_stale_builds(directory: Path, max_age_s: float = 6 * 3600) -> None:
    """Leftovers of builds that crashed (a killed process cannot clean up after itself)."""
    for pattern in (f".{directory.name}.building-*", f".{directory.name}.old-*"):
        for stale in directory.parent.glob(pattern):
            if time.time() - stale.stat().st_mtime > max_age_s:
                shutil.rmtree(stale, ignore_errors=True)


def _write_marker(root: Path, profile: str) -> None:
    import diffusers
    import safetensors
    import torch
    import transformers

    marker = {
        "profile": profile,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scheduler": SCHEDULER,
        "versions": {
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
        },
        "fingerprints": {
            **{name: _fingerprint(root / folder) for name, folder in FOLDERS.items()},
            "image_encoder": _fingerprint(root / "ip-adapter" / "models" / "image_encoder"),
        },
    }
    (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the networks


def _write_models(root: Path, shapes: _Shapes) -> None:
    """Every network of a model folder, seeded so that two builds write the same bytes."""
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        StableDiffusionPipeline,
        UNet2DConditionModel,
        UniPCMultistepScheduler,
    )
    from transformers import (
        CLIPConfig,
        CLIPModel,
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    dtype = getattr(torch, shapes.dtype)

    def cast(model):  # a no-op for fp32, which also spares diffusers' "keep in float32" warning
        return model if dtype == torch.float32 else model.to(dtype)

    vocab, merges = _clip_vocab()
    special = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"]}
    special["pad_token_id"] = special["eos_token_id"]

    # 1. UNet with the SD 1.5 block layout (16 cross-attention layers with layers_per_block=2)
    torch.manual_seed(shapes.seed)
    unet = UNet2DConditionModel(
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

    # 2. ControlNet copied from the UNet; its zero convolutions get small random weights,
    #    otherwise a random ControlNet would change nothing and no test could see it act.
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=shapes.cond_channels)
    generator = torch.Generator().manual_seed(shapes.seed + 1)
    with torch.no_grad():
        zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
        for conv in [*zero_convs, controlnet.controlnet_cond_embedding.conv_out]:
            conv.weight.normal_(0.0, conv.weight[0].numel() ** -0.5, generator=generator)

    # 3. VAE (scale factor 8: four blocks) and the text encoder
    torch.manual_seed(shapes.seed + 2)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(shapes.vae_channels),
        up_block_types=("UpDecoderBlock2D",) * len(shapes.vae_channels),
        block_out_channels=shapes.vae_channels,
        layers_per_block=shapes.vae_layers,
        latent_channels=4,
        norm_num_groups=shapes.vae_norm_groups,
        sample_size=shapes.latent_size * 8,
    )
    torch.manual_seed(shapes.seed + 3)
    text_config = CLIPTextConfig(
        **shapes.text,
        vocab_size=shapes.text_vocab_size or len(vocab),
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        **special,
    )
    text_encoder = CLIPTextModel(text_config)

    # 4. The base pipeline folder (scheduler: UniPC with the SD 1.5 noise schedule)
    scheduler = UniPCMultistepScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
    )
    tokenizer_dir = root / "base" / "tokenizer"
    _write_tokenizer(tokenizer_dir, vocab, merges)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    pipe = StableDiffusionPipeline(
        vae=cast(vae),
        text_encoder=cast(text_encoder),
        tokenizer=tokenizer,
        unet=cast(unet),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(root / "base", safe_serialization=True)
    shutil.rmtree(tokenizer_dir)  # transformers 5 writes only tokenizer.json: write CLIP's files
    _write_tokenizer(tokenizer_dir, vocab, merges)
    cast(controlnet).save_pretrained(root / "controlnet", safe_serialization=True)
    ip_adapter = _ip_adapter_weights(unet, shapes, torch.Generator().manual_seed(shapes.seed + 4))
    del pipe, vae, text_encoder, controlnet, unet

    # 5. IP-Adapter (h94 layout) and its image encoder
    models = root / "ip-adapter" / "models"
    torch.manual_seed(shapes.seed + 5)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**shapes.image_encoder))
    cast(encoder).save_pretrained(models / "image_encoder")
    _write_image_processor(models / "image_encoder", shapes.image_encoder["image_size"])
    from safetensors.torch import save_file

    save_file(
        {k: v.to(dtype).contiguous() for k, v in ip_adapter.items()},
        str(models / "ip-adapter_sd15.safetensors"),
        metadata={"format": "pt"},
    )
    del encoder

    # 6. Retrieval CLIP (dual tower) with tokenizer and image processor files
    torch.manual_seed(shapes.seed + 6)
    clip_config = CLIPConfig(
        text_config={**shapes.clip_text, "vocab_size": len(vocab), "max_position_embeddings": 77, **special},
        vision_config=shapes.clip_vision,
        projection_dim=shapes.clip_projection,
    )
    cast(CLIPModel(clip_config)).save_pretrained(root / "clip")
    _write_tokenizer(root / "clip", vocab, merges)
    _write_image_processor(root / "clip", shapes.clip_vision["image_size"])

    _rewrite_pil_processor_names(root)
    unsafe = [p for p in root.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
    if unsafe:
        raise RuntimeError(f"pickle-format weights were written: {unsafe}")


def _ip_adapter_weights(unet, shapes: _Shapes, generator) -> dict:
    """Random weights in the h94 ip-adapter_sd15 key layout, strong enough to change the output."""
    import torch

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


# --------------------------------------------------------------------------- tokenizer files

# Words that get whole-word BPE merges, so that prompts are a few tokens, not one per letter.
_WORDS = (
    "the a of and in on with at by for from to an is sketch render drawing painting photo "
    "style art light dark night day sky sea water river lake mountain tree forest flower garden "
    "house building city street bridge castle church tower room chair table window door car boat "
    "ship train bird cat dog horse person man woman child portrait face landscape still life "
    "watercolor oil ink pencil charcoal pastel print woodblock japanese impressionist cubist "
    "modern old red blue green yellow orange purple black white gold silver cinematic studio "
    "realistic detailed soft bright warm cold winter summer spring autumn sunset sunrise cloud"
).split()


def _byte_symbols() -> list[str]:
    """GPT-2 / CLIP byte-to-unicode table, in CLIP's vocabulary order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def _clip_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary order: bytes, bytes + </w>, merged tokens, then the two specials."""
    merges: list[tuple[str, str]] = []
    for word in _WORDS:
        parts = [*word[:-1], word[-1] + "</w>"]
        left = parts[0]
        for right in parts[1:]:
            if (left, right) not in merges:
                merges.append((left, right))
            left += right
    symbols = _byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *(a + b for a, b in merges)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}, merges


def _write_tokenizer(folder: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (folder / "merges.txt").write_text(merges_text)
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def _write_image_processor(folder: Path, size: int) -> None:
    """CLIP's preprocessing (as in openai/clip-vit-base-patch32), named CLIPImageProcessor."""
    config = {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": size},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "do_convert_rgb": True,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(config, indent=2) + "\n")


def _rewrite_pil_processor_names(root: Path) -> None:
    """Without torchvision transformers records `CLIPImageProcessorPil`; older versions lack it."""
    for path in root.rglob("*.json"):
        text = path.read_text()
        if "CLIPImageProcessorPil" in text:
            path.write_text(text.replace("CLIPImageProcessorPil", "CLIPImageProcessor"))
