"""SD 1.5 as one family among others renders exactly what SD 1.5 rendered before families: the
service's image is byte for byte the image of a plain diffusers call with the same inputs (the
pipeline, scheduler, IP-Adapter scale and style-only map SD 1.5 always used), and a render that names
`family=sd15` is byte for byte a render that names no family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from builders import make_settings
from PIL import Image

from sketch2render.render import build_service
from sketch2render.schemas import RenderParams, StyleMeta

pytestmark = pytest.mark.slow  # renders with the tiny models


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_models_dir):
    svc = build_service(make_settings(tmp_path_factory.mktemp("sd15-home"), tiny_models_dir))
    pixels = np.random.default_rng(3).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    svc.library.add_image(Image.fromarray(pixels), StyleMeta(title="Starry swirls", tags=["night sky"]))
    return svc


@pytest.fixture(scope="module")
def plain(service):
    """SD 1.5 loaded with diffusers' own calls only, as before families (no cache, no pinning)."""
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, UniPCMultistepScheduler

    models = service.models
    controlnet = ControlNetModel.from_pretrained(models.controlnet, use_safetensors=True)
    pipe = StableDiffusionControlNetPipeline.from_pretrained(
        models.base, controlnet=controlnet, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.load_ip_adapter(models.ip_adapter, subfolder=models.ip_adapter_subfolder, weight_name=models.ip_adapter_weight)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def render_plain(pipe, service, result, scale) -> np.ndarray:
    params = result.recipe.params
    style = service.library.load_image(result.recipe.styles[0].id).convert("RGB")
    pipe.set_ip_adapter_scale(scale)
    with torch.inference_mode():
        image = pipe(
            prompt=params.prompt,
            negative_prompt=params.negative_prompt,
            image=result.control_image,
            width=result.recipe.width,
            height=result.recipe.height,
            num_inference_steps=params.steps,
            guidance_scale=params.guidance_scale,
            controlnet_conditioning_scale=params.control_strength,
            ip_adapter_image=[style],
            generator=torch.Generator("cpu").manual_seed(params.seed),
        ).images[0]
    return np.asarray(image)


@pytest.mark.parametrize(
    ("mode", "scale"),
    [("full", 0.7), ("style-only", {"up": {"block_1": [0.0, 0.7, 0.0]}})],
)
def test_an_sd15_render_is_the_plain_diffusers_render(service, plain, mode, scale):
    sketch = Image.new("RGB", (96, 64), "white")
    sketch.paste((0, 0, 0), (10, 10, 80, 12))
    sketch.paste((0, 0, 0), (40, 10, 42, 50))
    params = RenderParams(prompt="swirling night sky", steps=3, size=64, seed=11, style_mode=mode)
    result = service.render(sketch, params)
    assert result.recipe.family == "sd15" and result.recipe.params.family == "sd15"
    assert np.array_equal(np.asarray(result.images[0]), render_plain(plain, service, result, scale))


def test_naming_sd15_changes_nothing(service):
    sketch = Image.new("RGB", (96, 64), "white")
    sketch.paste((0, 0, 0), (20, 20, 70, 23))
    base = {"prompt": "gold ornamental", "size": 64, "seed": 5, "speed": "fast"}
    unnamed = service.render(sketch, RenderParams(**base)).images[0]
    named = service.render(sketch, RenderParams(**base, family="sd15")).images[0]
    assert np.array_equal(np.asarray(unnamed), np.asarray(named))
