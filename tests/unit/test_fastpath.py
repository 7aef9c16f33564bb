"""The GPU fast path's pieces, applied on the CPU to the tiny models (the renderer applies them on
CUDA only): results survive them, the IP-Adapter keeps working, the LCM-LoRA still applies."""

from __future__ import annotations

import numpy as np
import pytest
from builders import make_settings
from PIL import Image

from sketch2render.config import Settings
from sketch2render.models import resolve_models
from sketch2render.render.fastpath import FastPath
from sketch2render.render.renderer import build_renderer
from sketch2render.schemas import RenderParams

pytestmark = pytest.mark.slow  # renders and compiles the tiny UNet: left out of `make test-fast`

CONTROL = Image.new("RGB", (64, 64))
for x in range(8, 56):  # a square outline: something for the ControlNet to follow
    for y in (8, 55):
        CONTROL.putpixel((x, y), (255, 255, 255))
        CONTROL.putpixel((y, x), (255, 255, 255))


def ip_adapter_processors(unet) -> int:
    return sum(type(p).__name__.startswith("IPAdapter") for p in unet.attn_processors.values())


@pytest.fixture
def renderer(tmp_path, tiny_models_dir):
    settings = make_settings(tmp_path, tiny_models_dir)
    renderer = build_renderer(settings, resolve_models(settings))
    renderer.style = renderer.encode_style(Image.new("RGB", (64, 64), (200, 150, 20)))
    return renderer


def render(renderer, **overrides) -> np.ndarray:
    values = {"prompt": "gold ornamental", "steps": 2, "size": 64, **overrides}
    params = RenderParams(**{k: v for k, v in values.items() if v is not None})
    generated = renderer.generate(CONTROL, params, seed=3, style_embeds=renderer.style)
    return np.asarray(generated.images[0], dtype=np.int16)


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return int(np.abs(a - b).max()) <= 2  # fp32: one matmul instead of three, rounding only


def test_the_fast_path_is_cuda_only(renderer):
    settings = Settings(channels_last=True, fuse_qkv=True, compile="default")
    assert not FastPath.for_device(settings, "cpu").active  # CPU renders stay byte-identical
    cuda = FastPath.for_device(settings, "cuda")
    assert cuda.describe() == {"channels_last": True, "fuse_qkv": True, "compile": "default"}
    assert (
        not renderer.fast.active
        and renderer.generate(CONTROL, RenderParams(prompt="x", steps=1, size=64), seed=0).speed.gpu is None
    )  # the recipe mentions the fast path only where it ran


def test_channels_last_and_fused_self_attention_keep_the_image_and_the_style(renderer):
    quality, fast = render(renderer), render(renderer, speed="fast", steps=None)
    no_style = render(renderer, style_strength=0.0)
    path = FastPath(channels_last=True, fuse_qkv=True)
    path.prepare(renderer.pipe.unet, lora_target=True)
    path.prepare(renderer.pipe.controlnet)
    renderer.fast = path
    assert ip_adapter_processors(renderer.pipe.unet) == 16  # diffusers' fuse_qkv_projections would drop them
    fused = [type(p).__name__ for p in renderer.pipe.unet.attn_processors.values()]
    assert fused.count("FusedAttnProcessor2_0") == 16  # every self-attention layer
    assert close(render(renderer), quality)
    assert not close(render(renderer, style_strength=0.0), render(renderer))  # the style still applies
    assert close(render(renderer, style_strength=0.0), no_style)
    assert close(render(renderer, speed="fast", steps=None), fast)  # the LoRA on q/k/v still applies
    assert render(renderer).tolist() == render(renderer).tolist()  # and quality switches back, fused
    # Why `select` exists: a path that never switches keeps the fused layers during `fast`, and
    # those skip the LoRA's q/k/v deltas: the image is no longer the LoRA's.
    renderer.fast = FastPath()
    renderer.speeds.apply(renderer.pipe, "quality")
    assert not close(render(renderer, speed="fast", steps=None), fast)


def test_a_compiled_unet_renders_the_same_with_the_style(renderer):
    """The UNet carries the IP-Adapter processors (the ControlNet is compiled the same way, by the
    same `prepare`; left out here to keep the suite fast)."""
    quality, no_style = render(renderer), render(renderer, style_strength=0.0)
    path = FastPath(compile_mode="default", compile_backend="eager")  # dynamo's tracing, no codegen
    path.prepare(renderer.pipe.unet, lora_target=True)
    assert close(render(renderer), quality)
    assert close(render(renderer, style_strength=0.0), no_style)  # IP-Adapter scale 0 honoured compiled


def test_warm_up_renders_each_available_preset(renderer):
    seconds = renderer.warm_up(size=64)
    assert list(seconds) == ["quality", "fast", "live"]  # tiny has the LCM-LoRA and TAESD stand-ins
    assert all(s > 0 for s in seconds.values())


def test_the_tcd_scheduler_option_runs_the_same_lora_with_tcd(tmp_path, tiny_models_dir, renderer):
    lcm = render(renderer, speed="fast", steps=None)
    settings = make_settings(tmp_path, tiny_models_dir, fast_scheduler="tcd")
    tcd = build_renderer(settings, resolve_models(settings))
    tcd.style = renderer.style
    params = RenderParams(prompt="gold ornamental", speed="fast", size=64)
    generated = tcd.generate(CONTROL, params, seed=3, style_embeds=tcd.style)
    assert (generated.speed.scheduler, generated.speed.eta) == ("TCDScheduler", 0.3)
    assert not close(np.asarray(generated.images[0], dtype=np.int16), lcm)  # another sampler, another image
    again = tcd.generate(CONTROL, params, seed=3, style_embeds=tcd.style)
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(generated.images[0]))  # seeded: reproduces
