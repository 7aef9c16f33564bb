"""Model profiles and the tiny models, loaded through the same calls the renderer makes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from builders import make_settings
from PIL import Image

from sketch2render.config import Settings
from sketch2render.errors import InvalidParameter, ModelsUnavailable
from sketch2render.models import build_tiny, model_info, resolve_models, stand_ins
from sketch2render.models import layout as models_layout
from sketch2render.models.assets import sd15_assets
from sketch2render.models.layout import MARKER

# --------------------------------------------------------------------------- helpers


def file_hashes(root: Path, *, skip_marker: bool = True) -> dict[str, str]:
    """sha256 of every file (the marker holds a timestamp, so it is left out by default)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not (skip_marker and p.name == MARKER)
    }


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Hugging Face cache and no network: what CI and a fresh machine look like."""
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return home / "hub"


def copy_models(source: Path, target: Path, *, marker: bool = True) -> Path:
    shutil.copytree(source, target)
    if not marker:
        (target / MARKER).unlink()
    return target


# --------------------------------------------------------------------------- building


def test_import_is_cheap() -> None:
    code = (
        "import sys, sketch2render.models; "
        "heavy = {'torch', 'diffusers', 'transformers', 'huggingface_hub'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tiny_build_under_home_is_byte_identical_and_a_second_call_is_a_no_op(
    tiny_models_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, models="tiny")

    models = resolve_models(settings)

    built = tmp_path / "models" / "tiny"
    assert models.profile == "tiny" and models.smoke_test and "TINY" in models.warning
    assert models.base == str(built / "base")
    assert file_hashes(built) == file_hashes(tiny_models_dir)  # a second build, same bytes
    marker_before = (built / MARKER).read_bytes()
    assert build_tiny(built) == built
    assert (built / MARKER).read_bytes() == marker_before
    assert not [p for p in tmp_path.joinpath("models").iterdir() if p.name.startswith(".")]


def test_only_safetensors_weights_are_written(tiny_models_dir: Path) -> None:
    suffixes = {p.suffix for p in tiny_models_dir.rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".txt", ".safetensors"}


def test_a_crashed_build_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(root: Path, shapes) -> None:
        (root / "base").mkdir()
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(stand_ins, "write_models", crash)
    with pytest.raises(RuntimeError):
        build_tiny(tmp_path / "tiny")
    assert list(tmp_path.iterdir()) == []


def test_a_build_finished_meanwhile_by_another_process_wins(
    tiny_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "tiny"

    def slow_build(root: Path, shapes) -> None:
        for folder in ("base", "controlnet", "ip-adapter", "clip"):
            (root / folder).mkdir()
        copy_models(tiny_models_dir, target)  # the other process renames its folder first

    monkeypatch.setattr(stand_ins, "write_models", slow_build)
    assert build_tiny(target) == target
    assert file_hashes(target) == file_hashes(tiny_models_dir)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


def test_force_rebuilds_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_build(root: Path, shapes) -> None:
        for folder in ("base", "controlnet", "ip-adapter", "clip"):
            (root / folder).mkdir()
            (root / folder / "weights.safetensors").write_text(str(time.time_ns()))

    monkeypatch.setattr(stand_ins, "write_models", fake_build)
    target = build_tiny(tmp_path / "tiny")
    first = file_hashes(target)
    assert build_tiny(target) == target and file_hashes(target) == first
    build_tiny(target, force=True)
    assert file_hashes(target) != first
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


def test_build_refuses_to_overwrite_a_folder_it_did_not_build(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ModelsUnavailable, match="not a model folder"):
        build_tiny(tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# --------------------------------------------------------------------------- loading and rendering


@pytest.fixture(scope="module")
def pipe(tiny_models_dir: Path):
    """Loaded exactly as the renderer loads real weights."""
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    controlnet = ControlNetModel.from_pretrained(tiny_models_dir / "controlnet", use_safetensors=True)
    pipeline = StableDiffusionControlNetPipeline.from_pretrained(
        tiny_models_dir / "base", controlnet=controlnet, safety_checker=None, use_safetensors=True
    )
    pipeline.load_ip_adapter(
        str(tiny_models_dir / "ip-adapter"), subfolder="models", weight_name="ip-adapter_sd15.safetensors"
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_the_unet_keeps_the_16_cross_attention_layers_of_sd15(pipe) -> None:
    cross = [k for k in pipe.unet.attn_processors if k.endswith("attn2.processor")]
    assert len(cross) == 16
    assert pipe.vae_scale_factor == 8
    assert type(pipe.scheduler).__name__ == models_layout.SCHEDULER


def test_the_tokenizer_knows_prompt_words_and_clip_special_tokens(pipe) -> None:
    tokenizer = pipe.tokenizer
    ids = tokenizer("A Watercolor house").input_ids
    assert len(ids) == 5  # <|startoftext|> a watercolor house <|endoftext|>
    assert ids[-1] == pipe.text_encoder.config.eos_token_id
    assert tokenizer.model_max_length == 77


def _render(pipe, *, ip_scale: float = 1.0, control_scale: float = 1.0, style_colour=(30, 60, 200)):
    import torch

    rng = np.random.default_rng(0)
    edges = Image.fromarray(((rng.random((64, 64)) > 0.9) * 255).astype(np.uint8)).convert("RGB")
    style = Image.new("RGB", (64, 64), style_colour)
    pipe.set_ip_adapter_scale(ip_scale)
    result = pipe(
        "a watercolor house",
        image=edges,
        ip_adapter_image=style,
        controlnet_conditioning_scale=control_scale,
        num_inference_steps=2,
        height=64,
        width=64,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    )
    return result.images[0]


@pytest.mark.slow  # renders with the tiny models: left out of `make test-fast`
def test_a_fixed_seed_reproduces_the_render_and_each_knob_changes_it(pipe) -> None:
    reference = _render(pipe)

    assert reference.shape == (64, 64, 3)
    np.testing.assert_array_equal(_render(pipe), reference)
    assert np.abs(_render(pipe, ip_scale=0.0) - reference).mean() > 0.01
    assert np.abs(_render(pipe, control_scale=0.0) - reference).mean() > 0.01
    assert np.abs(_render(pipe, style_colour=(220, 40, 20)) - reference).mean() > 0.005


def test_the_retrieval_clip_loads_with_the_standard_classes(tiny_models_dir: Path) -> None:
    import torch
    from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder = tiny_models_dir / "clip"
    model = CLIPModel.from_pretrained(folder, use_safetensors=True)
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    processor = CLIPImageProcessor.from_pretrained(folder)

    with torch.no_grad():
        text = model.get_text_features(**tokenizer(["a cat", "a red house"], padding=True, return_tensors="pt"))
        image = model.get_image_features(**processor(images=Image.new("RGB", (90, 60)), return_tensors="pt"))
    # transformers 5 returns an output object whose pooler_output holds the projected features
    text, image = (getattr(out, "pooler_output", out) for out in (text, image))
    assert text.shape == (2, 32) and image.shape == (1, 32)


# --------------------------------------------------------------------------- resolution


def test_auto_falls_back_to_tiny_loudly_when_no_real_weights_are_cached(
    tiny_models_dir: Path, tmp_path: Path, empty_hf_cache: Path
) -> None:
    copy_models(tiny_models_dir, tmp_path / "models" / "tiny")  # spare a rebuild

    models = resolve_models(Settings(home=tmp_path, models="auto"))

    assert models.profile == "tiny" and models.requested == "auto" and models.smoke_test
    assert models.warning.startswith("No real weights found (")
    assert "images will be noise" in models.warning and "sketch2render models download" in models.warning


def test_sd15_without_cached_weights_is_unavailable_with_a_download_hint(tmp_path: Path, empty_hf_cache: Path) -> None:
    with pytest.raises(ModelsUnavailable) as raised:
        resolve_models(Settings(home=tmp_path, models="sd15"))
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in raised.value.message
    assert "sketch2render models download" in raised.value.message
    assert not (tmp_path / "models").exists()  # nothing built, nothing fetched


def fill_cache(cache: Path, settings: Settings, variant: str | None = None) -> None:
    """Every file the sd15 assets need, as placeholders in the hub cache layout."""
    for asset in sd15_assets(settings):
        repo = cache / ("models--" + asset.repo.replace("/", "--"))
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text("abc123")
        for file in asset.files_for(variant):
            path = repo / "snapshots" / "abc123" / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"{}")


def test_sd15_resolves_to_hub_ids_when_every_file_is_in_the_cache(tmp_path: Path, empty_hf_cache: Path) -> None:
    settings = Settings(home=tmp_path, models="sd15")
    fill_cache(empty_hf_cache, settings)

    models = resolve_models(settings)

    assert models.profile == "sd15" and models.warning is None and not models.smoke_test
    assert models.local_files_only is True
    assert models.base == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert models.ids()["ip_adapter"] == "h94/IP-Adapter/models/ip-adapter_sd15.safetensors"
    assert resolve_models(settings.model_copy(update={"models": "auto"})).profile == "sd15"
    assert models.variant("base") is None and models.variant("controlnet") is None  # full weights


def test_fp16_weights_in_the_cache_are_loaded_as_the_fp16_variant(tmp_path: Path, empty_hf_cache: Path) -> None:
    settings = Settings(home=tmp_path, models="sd15")
    fill_cache(empty_hf_cache, settings, variant="fp16")  # only the fp16 copies of the big weights

    models = resolve_models(settings)

    assert models.profile == "sd15"
    assert models.variant("base") == "fp16" and models.variant("controlnet") == "fp16"
    assert models.variant("ip_adapter") is None  # h94 publishes no fp16 copy


def test_an_unknown_profile_name_lists_the_valid_choices(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="auto, sd15, tiny, sd15-random"):
        resolve_models(Settings(home=tmp_path, models="sd21"))


def test_a_model_folder_without_our_marker_is_a_local_profile(tiny_models_dir: Path, tmp_path: Path) -> None:
    folder = copy_models(tiny_models_dir, tmp_path / "my-models", marker=False)

    models = resolve_models(Settings(home=tmp_path, models=str(folder)))

    assert models.profile == "local" and models.warning is None and models.local_files_only
    assert models.controlnet == str(folder / "controlnet")
    assert models.ids()["base"] == f"local:{folder / 'base'}"


def test_a_folder_we_built_keeps_its_profile_and_warning(tiny_models_dir: Path, tmp_path: Path) -> None:
    models = resolve_models(make_settings(tmp_path, tiny_models_dir))

    assert models.profile == "tiny" and models.smoke_test and "TINY" in models.warning
    assert models.base == str(tiny_models_dir / "base")
    ids = models.ids()
    assert set(ids) == {"base", "controlnet", "ip_adapter", "image_encoder", "clip"}
    assert all(value.startswith("tiny:") for value in ids.values())


def test_a_folder_missing_parts_names_them(tiny_models_dir: Path, tmp_path: Path) -> None:
    folder = copy_models(tiny_models_dir, tmp_path / "broken", marker=False)
    (folder / "controlnet" / "diffusion_pytorch_model.safetensors").unlink()
    shutil.rmtree(folder / "ip-adapter" / "models" / "image_encoder")

    with pytest.raises(ModelsUnavailable) as raised:
        resolve_models(Settings(home=tmp_path, models=str(folder)))
    message = raised.value.message
    assert "controlnet/diffusion_pytorch_model.safetensors" in message
    assert "ip-adapter/models/image_encoder/model.safetensors" in message
    assert "base/" not in message


def test_model_dir_serves_the_sd15_profile(tiny_models_dir: Path, tmp_path: Path) -> None:
    folder = copy_models(tiny_models_dir, tmp_path / "weights", marker=False)

    models = resolve_models(Settings(home=tmp_path, models="sd15", model_dir=folder))

    assert models.profile == "local" and models.base == str(folder / "base")


def test_model_info_reports_paths_sizes_and_errors(tiny_models_dir: Path, tmp_path: Path) -> None:
    info = model_info(make_settings(tmp_path, tiny_models_dir))

    assert info["profile"] == "tiny" and info["smoke_test"] and info["device"] == "cpu"
    assert info["components"]["base"]["exists"] and info["components"]["base"]["bytes"] > 1_000_000
    assert info["components"]["image_encoder"]["exists"]

    bad = model_info(make_settings(tmp_path, "nope"))
    assert bad["profile"] is None and bad["error"]["code"] == "invalid_parameter"


def test_model_info_never_builds(tmp_path: Path) -> None:
    info = model_info(make_settings(tmp_path, "tiny"))

    assert info["profile"] == "tiny" and "not built yet" in info["warning"]
    assert not info["components"]["base"]["exists"]
    assert not (tmp_path / "models").exists()
