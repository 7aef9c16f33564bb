"""What a render no longer repeats (the cost around the model), on the tiny models: each
saving leaves the image byte for byte the same, and still notices when something did change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from builders import make_settings
from PIL import Image

from sketch2render.render import build_service
from sketch2render.render.device_pinning import pin
from sketch2render.schemas import RenderParams, StyleMeta

pytestmark = pytest.mark.slow  # renders with the tiny models: left out of `make test-fast`

SKETCH = (
    Path(__file__).parents[2] / "src" / "sketch2render" / "data" / "sketches" / "chiriqui_fig76_vase.png"
).read_bytes()


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_models_dir):
    home = tmp_path_factory.mktemp("costs-home")
    svc = build_service(make_settings(home, tiny_models_dir))
    pixels = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    svc.library.add_image(Image.fromarray(pixels), StyleMeta(title="Noise", tags=["noise"]))
    return svc


def render(service, **overrides) -> np.ndarray:
    values = {"prompt": "a vase with a spiral", "steps": 2, "size": 64, "seed": 3, **overrides}
    params = RenderParams(**{k: v for k, v in values.items() if v is not None})  # None: the preset's
    return np.asarray(service.render(SKETCH, params).images[0], dtype=np.int16)


@pytest.fixture
def text_encoder_runs(service):
    runs: list[int] = []
    handle = service.renderer.pipe.text_encoder.register_forward_hook(lambda *_: runs.append(1))
    yield runs
    handle.remove()


def test_a_repeated_prompt_is_not_encoded_again_and_renders_the_same_bytes(service, text_encoder_runs):
    service.renderer.caches.prompts.clear()
    first = render(service, num_images=2)
    assert len(text_encoder_runs) == 2  # the prompt and the (empty) negative prompt, once each
    again = render(service, num_images=2, seed=4)
    assert len(text_encoder_runs) == 2  # a new seed, the same words: nothing encoded
    service.renderer.caches.prompts.clear()  # forget: encoded by diffusers' path again
    assert np.array_equal(render(service, num_images=2), first)
    assert not np.array_equal(again, first)


def test_other_words_are_encoded_and_change_the_image(service, text_encoder_runs):
    base = render(service)
    runs = len(text_encoder_runs)
    negative = render(service, negative_prompt="blurry")
    assert len(text_encoder_runs) == runs + 2 and not np.array_equal(negative, base)
    other = render(service, prompt="a vase with a gold rim")
    assert len(text_encoder_runs) == runs + 4 and not np.array_equal(other, base)
    assert np.array_equal(render(service), base) and len(text_encoder_runs) == runs + 4


def test_without_guidance_only_the_prompt_is_encoded(service, text_encoder_runs):
    service.renderer.caches.prompts.clear()
    plain = render(service, guidance_scale=1.0)
    assert len(text_encoder_runs) == 1
    assert not np.array_equal(plain, render(service))  # guidance 7.5: a separate entry, and another image


def test_the_style_scale_is_set_only_when_it_changes(service, monkeypatch):
    calls: list[object] = []
    original = service.renderer.pipe.set_ip_adapter_scale
    monkeypatch.setattr(
        service.renderer.pipe, "set_ip_adapter_scale", lambda scale: calls.append(scale) or original(scale)
    )
    style = [service.library.list()[0].id]
    render(service, style_ids=style, style_strength=0.6)
    render(service, style_ids=style, style_strength=0.6, seed=9)
    assert len(calls) <= 1  # set once (or already 0.6 before)
    strong = render(service, style_ids=style, style_strength=1.0)
    assert calls[-1] == 1.0
    render(service, style_ids=style, style_strength=1.0, style_mode="style-only")
    assert calls[-1] == {"up": {"block_1": [0.0, 1.0, 0.0]}}  # same strength, another mode: set again
    assert np.array_equal(render(service, style_ids=style, style_strength=1.0), strong) and calls[-1] == 1.0
    assert not np.array_equal(render(service, style_ids=style, style_strength=0.0), strong) and calls[-1] == 0.0


def test_the_fast_lora_is_switched_only_when_the_preset_changes(service, monkeypatch):
    pipe, switched = service.renderer.pipe, []
    render(service, speed="fast", steps=None)  # loads the LoRA
    for name in ("enable_lora", "disable_lora"):
        original = getattr(pipe, name)
        monkeypatch.setattr(pipe, name, lambda original=original, name=name: switched.append(name) or original())
    fast = render(service, speed="fast", steps=None)
    render(service, speed="live", steps=None)
    assert switched == []  # on already
    quality = render(service)
    render(service, seed=5)
    assert switched == ["disable_lora"]
    assert np.array_equal(render(service, speed="fast", steps=None), fast) and switched[-1] == "enable_lora"
    assert not np.array_equal(quality, fast)


def test_the_pipelines_know_their_device_without_walking_their_modules(service, monkeypatch):
    from diffusers.hooks import group_offloading

    walks: list[object] = []
    walk = group_offloading._get_top_level_group_offload_hook
    monkeypatch.setattr(group_offloading, "_get_top_level_group_offload_hook", lambda m: walks.append(m) or walk(m))
    pipe = service.renderer.pipe
    assert pipe._execution_device == torch.device("cpu") and type(pipe).__name__ == "StableDiffusionControlNetPipeline"
    pinned = render(service)
    assert walks == []
    with service.renderer.session("canny", "quality", "full", 0.8):
        inpaint = service.renderer.derived("StableDiffusionControlNetInpaintPipeline")  # from_pipe walks once
    walks.clear()
    assert inpaint._execution_device == torch.device("cpu") and walks == []
    pin(pipe, None)  # as with offloading: diffusers finds it, walking the modules
    try:
        assert np.array_equal(render(service), pinned) and walks
    finally:
        pin(pipe, "cpu")


def test_a_styles_ip_adapter_embedding_is_read_from_disk_once(service, monkeypatch):
    from sketch2render.styles.blobs import embeds_name

    library, style = service.library, service.library.list()[0].id
    first = render(service, style_ids=[style], style_strength=0.9)  # encoded, or read, once
    reads: list[tuple] = []
    original = library.blobs.read
    monkeypatch.setattr(library.blobs, "read", lambda *args: reads.append(args) or original(*args))
    assert np.array_equal(render(service, style_ids=[style], style_strength=0.9), first)
    assert (style, embeds_name(service.renderer.encoder_key)) not in reads  # from memory: ids are content hashes
    from safetensors.torch import load

    on_disk = load(original(style, embeds_name(service.renderer.encoder_key)))["embeds"]
    assert torch.equal(library.load_ip_embeds(style, service.renderer.encoder_key), on_disk)
    assert library.load_ip_embeds("0123456789abcdef", service.renderer.encoder_key) is None  # unknown: none, not kept


def test_one_style_is_used_as_it_is_and_a_blend_still_weighs(service):
    from sketch2render.errors import InvalidParameter

    mix = service.renderer.mix
    a, b = torch.ones(2, 1, 4), torch.full((2, 1, 4), 5.0)
    assert mix([a], [0.3]) is a  # no arithmetic on the common path
    assert torch.allclose(mix([a, b], [1.0, 3.0]), torch.full((2, 1, 4), 4.0))
    with pytest.raises(InvalidParameter):
        mix([a], [0.0])
    library, style = service.library, service.library.list()[0].id
    first = render(service, style_ids=[style], style_strength=0.9)  # encoded (or read) and kept
    kept = library.load_ip_embeds(style, service.renderer.encoder_key).clone()
    assert np.array_equal(render(service, style_ids=[style], style_strength=0.9), first)
    assert torch.equal(library.load_ip_embeds(style, service.renderer.encoder_key), kept)


# --------------------------------------------------------------------------- S2R_CACHES=off


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_models_dir):
    """The same models and styles with every cache off (render/caches.py)."""
    from sketch2render.render.caches import Caches

    home = tmp_path_factory.mktemp("costs-off-home")
    svc = build_service(make_settings(home, tiny_models_dir, caches="off"))
    pixels = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    svc.library.add_image(Image.fromarray(pixels), StyleMeta(title="Noise", tags=["noise"]))
    assert svc.renderer.caches == Caches.off() and svc.search.answers is None
    return svc


def test_with_caches_off_a_render_is_the_same_bytes(service, straight):
    style = service.library.list()[0].id
    assert straight.library.list()[0].id == style  # ids are content hashes
    for overrides in ({}, {"guidance_scale": 1.0}, {"style_ids": [style], "style_strength": 0.7}, {"num_images": 2}):
        assert np.array_equal(render(straight, **overrides), render(service, **overrides)), overrides
        assert np.array_equal(render(straight, **overrides), render(service, **overrides)), overrides  # again: kept


def test_with_caches_off_every_render_does_the_work_again(straight, monkeypatch):
    from diffusers.hooks import group_offloading

    from sketch2render.styles.blobs import embeds_name

    renderer, library, style = straight.renderer, straight.library, straight.library.list()[0].id
    encoded, scales, walks, reads = [], [], [], []
    handle = renderer.pipe.text_encoder.register_forward_hook(lambda *_: encoded.append(1))
    encode_style, set_scale = renderer.encode_style, renderer.pipe.set_ip_adapter_scale
    monkeypatch.setattr(renderer, "encode_style", lambda image: encoded.append("style") or encode_style(image))
    monkeypatch.setattr(renderer.pipe, "set_ip_adapter_scale", lambda scale: scales.append(scale) or set_scale(scale))
    walk = group_offloading._get_top_level_group_offload_hook
    monkeypatch.setattr(group_offloading, "_get_top_level_group_offload_hook", lambda m: walks.append(m) or walk(m))
    read = library.blobs.read
    monkeypatch.setattr(library.blobs, "read", lambda *args: reads.append(args) or read(*args))
    try:
        for _ in range(2):
            render(straight, style_ids=[style], style_strength=0.9)
    finally:
        handle.remove()
    assert encoded.count("style") == 2 and encoded.count(1) == 4  # the prompt pair and the style, each render
    assert scales == [0.9, 0.9]  # set before every render
    assert walks  # diffusers finds the device by walking the modules
    assert (style, embeds_name(renderer.encoder_key)) not in reads  # no stored embedding read ...
    assert not (library.embeds_dir / style).exists()  # ... or written


def test_with_caches_off_every_search_runs(straight, monkeypatch):
    search, searched = straight.search, []
    hybrid = search._hybrid
    monkeypatch.setattr(search, "_hybrid", lambda *a, **kw: searched.append(a[1]) or hybrid(*a, **kw))
    first = [h.id for h in search.search("noise", k=1)]
    assert [h.id for h in search.search("noise", k=1)] == first and searched == ["noise", "noise"]
