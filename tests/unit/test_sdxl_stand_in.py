"""The tiny SDXL stand-in: built deterministically, and loaded back only through the calls the real
weights go through (`ControlNetUnionModel.from_pretrained`, the union pipelines' `from_pretrained`
/ `from_pipe`, `load_ip_adapter`, `load_lora_weights`, `AutoencoderTiny.from_pretrained`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from builders import make_settings
from PIL import Image

from sketch2render.models import build_tiny_sdxl
from sketch2render.models.assets_sdxl import ASSET_FOLDERS, LICENCES, sdxl_assets
from sketch2render.models.layout import MARKER, read_marker
from sketch2render.models.layout_sdxl import (
    LAYOUT_BLOCK,
    LIGHTNING,
    LIGHTNING_LORA_FILE,
    SDXL_COMPONENTS,
    SDXL_EXTRAS,
    SDXL_FOLDERS,
    SDXL_IP_ADAPTER,
    STYLE_BLOCK,
    UNION_CONTROL_MODES,
    UNION_CONTROL_TYPES,
    sdxl_folder_paths,
    sdxl_missing_in_folder,
    style_and_layout_scale,
    style_only_scale,
)

slow = pytest.mark.slow  # builds and tiny-model renders: left out of `make test-fast`
SIZE = 64
KOHYA_SUFFIXES = (".lora_down.weight", ".lora_up.weight", ".alpha")


def file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def noise_image(seed: int, size: int = SIZE) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def sdxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sdxl(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture(scope="module")
def pipe(sdxl_dir: Path):
    from diffusers import AutoencoderKL, ControlNetUnionModel, StableDiffusionXLControlNetUnionPipeline

    controlnet = ControlNetUnionModel.from_pretrained(sdxl_dir / SDXL_FOLDERS["controlnet"])
    vae = AutoencoderKL.from_pretrained(sdxl_dir / SDXL_FOLDERS["vae"])
    pipe = StableDiffusionXLControlNetUnionPipeline.from_pretrained(
        sdxl_dir / SDXL_FOLDERS["base"], controlnet=controlnet, vae=vae
    )
    pipe.load_ip_adapter(sdxl_dir / SDXL_FOLDERS["ip_adapter"], **SDXL_IP_ADAPTER)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture
def fresh(pipe):
    """The module's pipeline with the IP-Adapter at full scale again afterwards."""
    yield pipe
    pipe.set_ip_adapter_scale(1.0)


def render(pipe, **overrides) -> np.ndarray:
    import torch

    args = dict(
        prompt="a house by the river",
        control_image=[noise_image(1)],
        control_mode=[UNION_CONTROL_MODES["canny"]],
        ip_adapter_image=noise_image(2),
        height=SIZE,
        width=SIZE,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(7),
        output_type="np",
    )
    args.update(overrides)
    return pipe(**args).images[0]


def changed(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


# --------------------------------------------------------------------------- building


@slow
def test_a_second_build_writes_the_same_bytes(sdxl_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_sdxl(tmp_path / "again")
    assert file_hashes(again) == file_hashes(sdxl_dir)
    marker = read_marker(sdxl_dir)
    assert marker is not None and (marker["profile"], marker["family"]) == ("tiny-sdxl", "sdxl")
    assert read_marker(again)["fingerprints"] == marker["fingerprints"]


@slow
def test_the_build_has_every_file_of_the_layout_and_no_pickles(sdxl_dir: Path) -> None:
    assert sdxl_missing_in_folder(sdxl_dir) == []
    assert all(Path(path).is_dir() for path in sdxl_folder_paths(sdxl_dir).values())
    assert set(read_marker(sdxl_dir)["fingerprints"]) >= set(SDXL_COMPONENTS)
    for folder, files in SDXL_EXTRAS.values():
        assert all((sdxl_dir / folder / f).is_file() for f in files)
    assert not [p for p in sdxl_dir.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]


@slow
def test_retrieval_clip_and_image_encoder_are_the_sd15_stand_ins_own(sdxl_dir: Path, tiny_models_dir: Path) -> None:
    """Retrieval vectors must not depend on the family; h94 uses one ViT-H encoder for both."""
    assert file_hashes(sdxl_dir / "clip") == file_hashes(tiny_models_dir / "clip")
    encoder = SDXL_IP_ADAPTER["image_encoder_folder"]
    assert file_hashes(sdxl_dir / "ip-adapter" / encoder) == file_hashes(tiny_models_dir / "ip-adapter" / encoder)


# --------------------------------------------------------------------------- loading


@slow
def test_the_folders_load_as_sdxl(pipe, sdxl_dir: Path) -> None:
    from diffusers import AutoencoderTiny, EulerDiscreteScheduler
    from diffusers.models.embeddings import IPAdapterPlusImageProjection
    from transformers import CLIPTextModelWithProjection

    assert pipe.unet.config.addition_embed_type == "text_time"
    assert pipe.controlnet.config.num_control_type == UNION_CONTROL_TYPES
    assert isinstance(pipe.text_encoder_2, CLIPTextModelWithProjection)
    assert isinstance(pipe.scheduler, EulerDiscreteScheduler)
    assert (pipe.vae.config.force_upcast, pipe.vae.config.scaling_factor) == (False, 0.13025)
    (projection,) = pipe.unet.encoder_hid_proj.image_projection_layers
    assert isinstance(projection, IPAdapterPlusImageProjection)
    taesd = AutoencoderTiny.from_pretrained(sdxl_dir / SDXL_EXTRAS["taesd"][0])
    import torch

    with torch.no_grad():
        decoded = taesd.decode(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))).sample
    assert decoded.shape == (1, 3, SIZE, SIZE) and 0.2 < float(decoded.clamp(-1, 1).mean() * 0.5 + 0.5) < 0.8


@slow
def test_plus_adapter_embeddings_are_per_patch(pipe) -> None:
    """The Plus adapter takes the encoder's penultimate hidden states: [2 (negative, positive), 1, T, D]."""
    (embeds,) = pipe.prepare_ip_adapter_image_embeds(
        ip_adapter_image=[noise_image(2)],
        ip_adapter_image_embeds=None,
        device="cpu",
        num_images_per_prompt=1,
        do_classifier_free_guidance=True,
    )
    vision = pipe.image_encoder.config
    tokens = (vision.image_size // vision.patch_size) ** 2 + 1
    assert tuple(embeds.shape) == (2, 1, tokens, vision.hidden_size)


# --------------------------------------------------------------------------- every knob acts


@slow
def test_a_fixed_seed_reproduces(pipe) -> None:
    assert changed(render(pipe), render(pipe)) == 0.0


@slow
def test_control_mode_and_scale_change_the_output(pipe) -> None:
    first = render(pipe)
    assert changed(render(pipe, control_mode=[UNION_CONTROL_MODES["scribble"]]), first) > 1e-3
    assert changed(render(pipe, controlnet_conditioning_scale=0.2), first) > 1e-3
    assert changed(render(pipe, control_image=[noise_image(3)]), first) > 1e-3


@slow
def test_ip_adapter_scale_and_style_image_change_the_output(fresh) -> None:
    first = render(fresh)
    assert changed(render(fresh, ip_adapter_image=noise_image(4)), first) > 1e-3
    fresh.set_ip_adapter_scale(0.0)
    assert changed(render(fresh), first) > 1e-3


@slow
def test_style_only_switches_on_only_the_style_blocks_processors(fresh) -> None:
    fresh.set_ip_adapter_scale(style_only_scale(0.8))
    scales = {name: proc.scale for name, proc in fresh.unet.attn_processors.items() if hasattr(proc, "to_k_ip")}
    on = {name for name, scale in scales.items() if scale != [0.0]}
    assert on == {name for name in scales if name.startswith(STYLE_BLOCK + ".")}
    assert len(on) == fresh.unet.config.transformer_layers_per_block[-1]  # every layer of the block
    assert all(scales[name] == [0.8] for name in on)
    fresh.set_ip_adapter_scale(style_and_layout_scale(0.8))
    on = {name for name, proc in fresh.unet.attn_processors.items() if getattr(proc, "scale", [0.0]) != [0.0]}
    blocks = {name.rsplit(".transformer_blocks", 1)[0] for name in on}
    assert blocks == {STYLE_BLOCK, LAYOUT_BLOCK}  # InstantStyle's layout block exists on tiny-sdxl too
    fresh.set_ip_adapter_scale(1.0)
    full = render(fresh)
    fresh.set_ip_adapter_scale(style_only_scale(1.0))
    assert changed(render(fresh), full) > 1e-4


@slow
def test_masks_give_two_style_images_their_own_regions(fresh) -> None:
    import torch
    from diffusers.image_processor import IPAdapterMaskProcessor

    left = np.zeros((SIZE, SIZE), dtype=np.uint8)
    left[:, : SIZE // 2] = 255
    masks = IPAdapterMaskProcessor().preprocess(
        [Image.fromarray(left), Image.fromarray(255 - left)], height=SIZE, width=SIZE
    )
    embeds = [
        fresh.prepare_ip_adapter_image_embeds([image], None, "cpu", 1, True)[0]
        for image in (noise_image(2), noise_image(4))
    ]
    both = torch.cat(embeds, dim=1)  # [2, 2 images, T, D]
    masked = render(
        fresh,
        ip_adapter_image=None,
        ip_adapter_image_embeds=[both],
        cross_attention_kwargs={"ip_adapter_masks": [masks.reshape(1, 2, SIZE, SIZE)]},
    )
    swapped = render(
        fresh,
        ip_adapter_image=None,
        ip_adapter_image_embeds=[torch.cat(embeds[::-1], dim=1)],
        cross_attention_kwargs={"ip_adapter_masks": [masks.reshape(1, 2, SIZE, SIZE)]},
    )
    assert changed(masked, swapped) > 1e-4


@slow
def test_the_few_step_lora_loads_and_changes_the_output(pipe, sdxl_dir: Path) -> None:
    from diffusers import EulerDiscreteScheduler
    from safetensors.torch import load_file

    original = pipe.scheduler
    pipe.scheduler = EulerDiscreteScheduler.from_config(original.config, timestep_spacing=LIGHTNING["timestep_spacing"])
    try:
        without = render(pipe, guidance_scale=LIGHTNING["guidance_scale"])
        pipe.load_lora_weights(
            sdxl_dir / SDXL_EXTRAS["lightning_lora"][0], weight_name=LIGHTNING_LORA_FILE, adapter_name="lightning"
        )
        with_lora = render(pipe, guidance_scale=LIGHTNING["guidance_scale"])
        assert changed(with_lora, without) > 1e-3
        file = load_file(str(sdxl_dir / SDXL_EXTRAS["lightning_lora"][0] / LIGHTNING_LORA_FILE))
        assert all(k.startswith("lora_unet_") and k.endswith(KOHYA_SUFFIXES) for k in file)  # the real file's layout
        adapted = [name for name, module in pipe.unet.named_modules() if "lightning" in getattr(module, "lora_A", {})]
        assert len(adapted) == len({k.split(".")[0] for k in file})  # every module of the file, convs included
        pipe.disable_lora()
        assert changed(render(pipe, guidance_scale=LIGHTNING["guidance_scale"]), without) < 1e-5
    finally:
        pipe.unload_lora_weights()
        pipe.scheduler = original


@slow
def test_union_inpaint_and_img2img_run_from_the_same_components(pipe) -> None:
    from diffusers import (
        StableDiffusionXLControlNetUnionImg2ImgPipeline,
        StableDiffusionXLControlNetUnionInpaintPipeline,
    )

    image = noise_image(5)
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[16:48, 16:48] = 255
    inpaint = StableDiffusionXLControlNetUnionInpaintPipeline.from_pipe(pipe)
    inpaint.set_progress_bar_config(disable=True)
    common = dict(image=image, control_image=[image], num_inference_steps=4)
    edited = render(inpaint, mask_image=Image.fromarray(mask), control_mode=[UNION_CONTROL_MODES["inpaint"]], **common)
    other = render(
        inpaint, mask_image=Image.fromarray(255 - mask), control_mode=[UNION_CONTROL_MODES["inpaint"]], **common
    )
    assert changed(edited, other) > 1e-3

    img2img = StableDiffusionXLControlNetUnionImg2ImgPipeline.from_pipe(pipe)
    img2img.set_progress_bar_config(disable=True)
    tiled = render(img2img, control_mode=[UNION_CONTROL_MODES["tile"]], strength=0.5, **common)
    stronger = render(img2img, control_mode=[UNION_CONTROL_MODES["tile"]], strength=0.9, **common)
    assert tiled.shape == (SIZE, SIZE, 3) and changed(tiled, stronger) > 1e-3


# --------------------------------------------------------------------------- assets and full shapes


@slow
def test_the_assets_list_exactly_what_the_stand_in_holds(sdxl_dir: Path) -> None:
    """What `models download --profile sdxl` fetches is what the loaders above read."""
    assets = sdxl_assets(make_settings())
    for asset in assets:
        assert all((sdxl_dir / ASSET_FOLDERS[asset.name] / f).is_file() for f in asset.files), asset.name
        assert asset.licence == LICENCES[asset.name]
    assert {a.name for a in assets if a.optional} == {"lightning_lora", "taesdxl"}


def test_the_base_asset_fetches_fp16_copies_on_request() -> None:
    base, vae, *_ = sdxl_assets(make_settings(), repos={"sdxl_base": "someone/sdxl-finetune"})
    assert base.repo == "someone/sdxl-finetune" and "unet/diffusion_pytorch_model.fp16.safetensors" in base.files_for(
        "fp16"
    )
    assert "text_encoder_2/model.fp16.safetensors" in base.files_for("fp16")
    assert vae.files_for("fp16") == vae.files  # the fp16-fix VAE publishes no fp16 copy


def test_sdxl_random_has_the_real_models_sizes() -> None:
    """Built on the meta device: the real SDXL UNet, union ControlNet and text encoders' sizes."""
    import torch

    from sketch2render.models.clip_files import clip_vocab
    from sketch2render.models.components_sdxl import (
        LORA_TARGETS,
        build_sdxl_unet,
        build_text_encoders,
        build_union_controlnet,
    )
    from sketch2render.models.shapes_sdxl import SDXL_RANDOM

    def count(model: torch.nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    with torch.device("meta"):
        unet = build_sdxl_unet(SDXL_RANDOM)
        controlnet = build_union_controlnet(unet, SDXL_RANDOM)
        first, second = build_text_encoders(SDXL_RANDOM, clip_vocab()[0])
    assert count(unet) == 2_567_463_684  # stable-diffusion-xl-base-1.0's UNet
    assert 1.25e9 < count(controlnet) < 1.26e9  # the union ControlNet (2.5 GB in fp16)
    assert (round(count(first) / 1e6), round(count(second) / 1e6)) == (123, 695)  # CLIP ViT-L, OpenCLIP bigG
    assert sum(name.endswith("attn2.processor") for name in unet.attn_processors) == 70
    # sdxl_lightning_4step_lora.safetensors holds 2364 tensors: down, up and alpha of 788 modules
    adapted = [n for n, _ in unet.named_modules() if any(n == t or n.endswith("." + t) for t in LORA_TARGETS)]
    assert len(adapted) * 3 == 2364


@slow
def test_the_full_size_stand_ins_fp16_path_builds_and_loads(tmp_path: Path) -> None:
    """sdxl-random is never built here (~10 GB): its fp16 code path runs at tiny size instead."""
    import dataclasses

    import torch
    from diffusers import AutoencoderKL, ControlNetUnionModel, StableDiffusionXLControlNetUnionPipeline
    from safetensors import safe_open

    from sketch2render.models.shapes import TINY
    from sketch2render.models.shapes_sdxl import TINY_SDXL
    from sketch2render.models.write_sdxl import write_sdxl_models

    half_tiny = dataclasses.replace(TINY, dtype="float16")
    write_sdxl_models(tmp_path, dataclasses.replace(TINY_SDXL, dtype="float16", shared=half_tiny))
    for weights in tmp_path.rglob("*.safetensors"):
        with safe_open(str(weights), "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}, weights
    half = torch.float16
    pipe = StableDiffusionXLControlNetUnionPipeline.from_pretrained(
        tmp_path / SDXL_FOLDERS["base"],
        controlnet=ControlNetUnionModel.from_pretrained(tmp_path / SDXL_FOLDERS["controlnet"], dtype=half),
        vae=AutoencoderKL.from_pretrained(tmp_path / SDXL_FOLDERS["vae"], dtype=half),
        dtype=half,
    )
    pipe.load_ip_adapter(tmp_path / SDXL_FOLDERS["ip_adapter"], **SDXL_IP_ADAPTER)
    pipe.load_lora_weights(
        tmp_path / SDXL_EXTRAS["lightning_lora"][0], weight_name=LIGHTNING_LORA_FILE, adapter_name="lightning"
    )
    assert pipe.unet.dtype == half and pipe.get_list_adapters() == {"unet": ["lightning"]}


def test_a_folder_says_its_family(tmp_path: Path) -> None:
    import json

    from sketch2render.models.layout_sdxl import folder_family

    assert folder_family(tmp_path) is None
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    assert folder_family(tmp_path) == "sdxl"
    (tmp_path / "base" / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    assert folder_family(tmp_path) == "sd15"
    (tmp_path / MARKER).write_text(json.dumps({"profile": "tiny-sdxl", "family": "sdxl"}))
    assert folder_family(tmp_path) == "sdxl"


@slow
def test_built_folders_say_their_family(sdxl_dir: Path, tiny_models_dir: Path) -> None:
    from sketch2render.models.layout_sdxl import folder_family

    assert (folder_family(sdxl_dir), folder_family(tiny_models_dir)) == ("sdxl", "sd15")
