"""The FLUX.2 [klein] stand-ins: `tiny-klein` is laid out as the real hub repository, is loaded by
`Flux2KleinPipeline.from_pretrained` with the real call, renders with references (count and order
matter) and edits through `Flux2KleinInpaintPipeline.from_pipe`; `klein-random` has the 4B shapes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketch2render.models import build_tiny_klein
from sketch2render.models.assets_klein import KLEIN_REPO, klein_assets, licence_of
from sketch2render.models.clip_files import clip_vocab
from sketch2render.models.components import PICKLE_SUFFIXES, write_retrieval_clip
from sketch2render.models.layout import MARKER
from sketch2render.models.layout_klein import KLEIN_FOLDERS, missing_in_klein_folder, pipeline_files
from sketch2render.models.shapes import TINY
from sketch2render.models.shapes_klein import KLEIN_RANDOM, TEXT_LAYERS, TINY_KLEIN

pytestmark = pytest.mark.slow

SIZE = 64
STEPS = 2


def file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def sketch(seed: int) -> Image.Image:
    """A line drawing: a few random strokes on white (references must be at least 64 px)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        draw.line([tuple(int(v) for v in rng.integers(0, SIZE, 2)) for _ in range(2)], fill="black", width=3)
    return image


@pytest.fixture(scope="module")
def klein_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_klein(tmp_path_factory.mktemp("models") / "tiny-klein")


@pytest.fixture(scope="module")
def pipe(klein_dir: Path):
    from diffusers import Flux2KleinPipeline

    pipe = Flux2KleinPipeline.from_pretrained(klein_dir)  # the call the real weights take
    pipe.set_progress_bar_config(disable=True)
    return pipe


def render(
    pipe, *, references: list[Image.Image] | None = None, seed: int = 0, prompt: str = "a red house"
) -> np.ndarray:
    import torch

    result = pipe(
        prompt=prompt,
        image=references,
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(seed),
    )
    return np.asarray(result.images[0], dtype=np.int16)


def differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


# --------------------------------------------------------------------------- the folder


def test_the_folder_has_the_real_repos_layout_and_a_klein_marker(klein_dir: Path) -> None:
    assert missing_in_klein_folder(klein_dir) == []
    files = {p.relative_to(klein_dir).as_posix() for p in klein_dir.rglob("*") if p.is_file()}
    pipeline = {f for f in files if not f.startswith("clip/") and f != MARKER}
    assert pipeline == set(pipeline_files(text_shards=1))
    index = json.loads((klein_dir / "model_index.json").read_text())
    assert index["_class_name"] == "Flux2KleinPipeline" and index["is_distilled"] is True
    marker = json.loads((klein_dir / MARKER).read_text())
    assert marker["profile"] == "tiny-klein" and marker["family"] == "klein"
    assert set(marker["fingerprints"]) == set(KLEIN_FOLDERS)
    assert not [f for f in files if f.endswith(PICKLE_SUFFIXES)]


def test_a_rebuild_writes_the_same_bytes_and_the_clip_is_tinys(klein_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_klein(tmp_path / "again")
    assert file_hashes(again) == file_hashes(klein_dir)
    assert build_tiny_klein(klein_dir) == klein_dir  # built already: a no-op
    write_retrieval_clip(tmp_path / "sd15", TINY, *clip_vocab())  # what tiny's build writes as clip/
    assert file_hashes(tmp_path / "sd15" / "clip") == file_hashes(klein_dir / "clip")


def test_the_tokenizer_loads_offline_and_knows_prompt_words(klein_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import Qwen2TokenizerFast

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tokenizer = Qwen2TokenizerFast.from_pretrained(klein_dir / "tokenizer")
    messages = [{"role": "user", "content": "a watercolor house"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert text == "<|im_start|>user\na watercolor house<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert tokenizer.tokenize(" watercolor house") == ["Ġwatercolor", "Ġhouse"]
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"


# --------------------------------------------------------------------------- renders


def test_a_fixed_seed_reproduces_and_another_seed_differs(pipe) -> None:
    first = render(pipe)
    assert first.shape == (SIZE, SIZE, 3)
    assert np.array_equal(first, render(pipe))
    assert differ(first, render(pipe, seed=1)) > 5


def test_the_prompt_changes_the_render(pipe) -> None:
    assert differ(render(pipe), render(pipe, prompt="a blue boat at night")) > 2


def test_a_reference_its_count_and_its_order_change_the_render(pipe) -> None:
    a, b = sketch(1), sketch(2)
    none, one, two, swapped = (render(pipe, references=refs) for refs in (None, [a], [a, b], [b, a]))
    assert differ(none, one) > 2  # the sketch as reference 1
    assert differ(one, two) > 2  # a style reference after it
    assert differ(two, swapped) > 2  # order matters: references are told apart by position
    assert np.array_equal(two, render(pipe, references=[a, b]))


def test_the_inpaint_pipeline_reuses_the_components_with_a_mask_and_a_reference(pipe) -> None:
    import torch
    from diffusers import Flux2KleinInpaintPipeline

    inpaint = Flux2KleinInpaintPipeline.from_pipe(pipe)
    assert inpaint.transformer is pipe.transformer and inpaint.vae is pipe.vae
    parent = Image.fromarray(render(pipe).astype(np.uint8))
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 47, 47), fill=255)

    def edit(reference: Image.Image | None) -> np.ndarray:
        result = inpaint(
            prompt="a green door",
            image=parent,
            mask_image=mask,
            image_reference=reference,
            height=SIZE,
            width=SIZE,
            strength=1.0,
            num_inference_steps=STEPS,
            guidance_scale=1.0,
            generator=torch.Generator().manual_seed(0),
        )
        return np.asarray(result.images[0], dtype=np.int16)

    plain, with_reference = edit(None), edit(sketch(3))
    assert plain.shape == (SIZE, SIZE, 3)
    inside = np.asarray(mask) > 0
    assert differ(plain[inside], np.asarray(parent, dtype=np.int16)[inside]) > 2  # the masked area is new
    assert differ(plain, with_reference) > 0.5  # the reference reaches the edit


# --------------------------------------------------------------------------- klein-random and assets


def test_klein_random_has_the_published_4b_shapes() -> None:
    import torch
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    def parameters(model: torch.nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    with torch.device("meta"):  # shapes only: nothing is allocated
        transformer = Flux2Transformer2DModel(**KLEIN_RANDOM.transformer)
        vae = AutoencoderKLFlux2(**KLEIN_RANDOM.vae)
        text = Qwen3ForCausalLM(Qwen3Config(**KLEIN_RANDOM.text, vocab_size=KLEIN_RANDOM.text_vocab_size))
    assert 3.85e9 < parameters(transformer) < 3.90e9  # 7.75 GB in bf16, as published
    assert 4.00e9 < parameters(text) < 4.05e9  # Qwen3-4B, tied embeddings
    assert 83e6 < parameters(vae) < 85e6
    for shapes in (TINY_KLEIN, KLEIN_RANDOM):
        assert shapes.transformer["joint_attention_dim"] == len(TEXT_LAYERS) * shapes.text["hidden_size"]
        assert shapes.transformer["in_channels"] == 4 * shapes.vae["latent_channels"]
        assert shapes.text["num_hidden_layers"] > max(TEXT_LAYERS)


def test_klein_randoms_options_bf16_and_a_sharded_text_encoder_load_as_published(tmp_path: Path) -> None:
    """klein-random's code path at tiny sizes: bf16 on disk, Qwen3's full vocabulary, two shards."""
    import dataclasses

    import torch
    from diffusers import Flux2KleinPipeline

    from sketch2render.models.components_klein import write_klein_models

    shapes = dataclasses.replace(
        TINY_KLEIN, dtype="bfloat16", text_vocab_size=KLEIN_RANDOM.text_vocab_size, text_shard_size="3MB"
    )
    write_klein_models(tmp_path, shapes)
    assert torch.get_default_dtype() == torch.float32  # the build restores it
    assert missing_in_klein_folder(tmp_path, text_shards=2) == []
    pipe = Flux2KleinPipeline.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert {pipe.transformer.dtype, pipe.text_encoder.dtype, pipe.vae.dtype} == {torch.bfloat16}
    image = render(pipe)
    assert image.shape == (SIZE, SIZE, 3) and image.std() > 1


def test_the_klein_assets_are_the_4b_repo_files_and_apache() -> None:
    from builders import make_settings

    klein, clip = klein_assets(make_settings())
    assert klein.repo == KLEIN_REPO and licence_of(KLEIN_REPO).name == "Apache-2.0"
    assert "text_encoder/model-00002-of-00002.safetensors" in klein.files
    assert "transformer/diffusion_pytorch_model.safetensors" in klein.files
    assert not [f for f in klein.files if f.endswith(PICKLE_SUFFIXES)]
    assert not licence_of("black-forest-labs/FLUX.2-klein-9B").commercial_use
    assert clip.name == "clip"
