"""One builder per network of a FLUX.2 [klein] stand-in folder, as diffusers' tests build dummy
components: the transformer, the VAE, the Qwen3 text encoder with our own tokenizer files, the
scheduler, plus the retrieval CLIP of the SD 1.5 stand-ins (byte-identical, so retrieval vectors do
not depend on the family).

Each network seeds itself from `shapes.seed` plus a fixed offset, is built directly in the dtype it
is saved in (the full-size text encoder and transformer are ~8 GB each in bf16: never two at once),
saved, and dropped before the next. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .clip_files import clip_vocab
from .components import PICKLE_SUFFIXES, write_retrieval_clip
from .layout_klein import IS_DISTILLED, PIPELINE, SCHEDULER_CONFIG
from .qwen_files import qwen_vocab, special_token_ids, vocab_size, write_qwen_tokenizer
from .shapes_klein import KleinShapes

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Transformer2DModel
    from transformers import Qwen3ForCausalLM


@contextmanager
def _built_in(shapes: KleinShapes, offset: int) -> Iterator[None]:
    """Seeded, with new parameters created in the dtype they are saved in."""
    import torch

    previous = torch.get_default_dtype()
    torch.manual_seed(shapes.seed + offset)
    torch.set_default_dtype(_dtype(shapes))
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _dtype(shapes: KleinShapes) -> torch.dtype:
    import torch

    return getattr(torch, shapes.dtype)


def build_transformer(shapes: KleinShapes) -> Flux2Transformer2DModel:
    from diffusers import Flux2Transformer2DModel

    with _built_in(shapes, 30):
        transformer = Flux2Transformer2DModel(**shapes.transformer)
    if shapes.responsive:
        _sharpen(transformer)
    return transformer


def _sharpen(transformer: Flux2Transformer2DModel) -> None:
    """With default random weights the output hardly depends on the conditioning: attention is
    flat over the ~500 padded text tokens (q/k are RMS-normalised) and the value paths are small.
    Sharper attention (q/k norm gains), stronger values and outputs make the prompt, each reference
    and their order visibly change a 64 px render."""
    import torch

    gains = {"norm_q": 3.0, "norm_k": 3.0, "norm_added_q": 3.0, "norm_added_k": 3.0}
    gains |= {"to_v": 8.0, "add_v_proj": 8.0, "to_out": 8.0, "to_add_out": 8.0, "proj_out": 3.0}
    with torch.no_grad():
        for name, parameter in transformer.named_parameters():
            parameter.mul_(next((gains[part] for part in name.split(".") if part in gains), 1.0))


def build_vae(shapes: KleinShapes) -> AutoencoderKLFlux2:
    """The FLUX.2 autoencoder; its batch-norm statistics stay at mean 0, variance 1."""
    from diffusers import AutoencoderKLFlux2

    with _built_in(shapes, 31):
        return AutoencoderKLFlux2(**shapes.vae)


def build_text_encoder(shapes: KleinShapes, vocab: dict[str, int]) -> Qwen3ForCausalLM:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        **shapes.text,
        vocab_size=shapes.text_vocab_size or vocab_size(vocab),
        **special_token_ids(vocab),
        dtype=shapes.dtype,
    )
    with _built_in(shapes, 32):
        return Qwen3ForCausalLM(config)


def build_scheduler() -> FlowMatchEulerDiscreteScheduler:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG)


def model_index() -> dict:
    """model_index.json as the real repo has it (diffusers writes the same from a pipeline)."""
    import diffusers

    return {
        "_class_name": PIPELINE,
        "_diffusers_version": diffusers.__version__,
        "is_distilled": IS_DISTILLED,
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen3ForCausalLM"],
        "tokenizer": ["transformers", "Qwen2TokenizerFast"],
        "transformer": ["diffusers", "Flux2Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKLFlux2"],
    }


def write_klein_models(root: Path, shapes: KleinShapes) -> None:
    """Every network of a klein folder, one at a time, then model_index.json and the CLIP."""
    vocab, merges = qwen_vocab()
    write_qwen_tokenizer(root / "tokenizer", vocab, merges)
    build_scheduler().save_pretrained(root / "scheduler")
    vae = build_vae(shapes)
    vae.save_pretrained(root / "vae", safe_serialization=True)
    del vae
    text_encoder = build_text_encoder(shapes, vocab)
    shard = {"max_shard_size": shapes.text_shard_size} if shapes.text_shard_size else {}
    text_encoder.save_pretrained(root / "text_encoder", safe_serialization=True, **shard)
    del text_encoder
    transformer = build_transformer(shapes)
    transformer.save_pretrained(root / "transformer", safe_serialization=True)
    del transformer
    (root / "model_index.json").write_text(json.dumps(model_index(), indent=2, sort_keys=True) + "\n")
    write_retrieval_clip(root, shapes.clip, *clip_vocab())
    unsafe = [p for p in root.rglob("*") if p.suffix in PICKLE_SUFFIXES]
    if unsafe:
        raise RuntimeError(f"pickle-format weights were written: {unsafe}")
