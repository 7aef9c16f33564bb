"""The SDXL family on tiny-sdxl, through the same service as SD 1.5: every feature renders, each knob
changes the output, a seed reproduces it, and one process serves both families.

Random weights: the pictures are noise, so every test compares outputs to each other."""

from __future__ import annotations

import io

import numpy as np
import pytest
from builders import make_settings
from family_renders import SKETCH, ids, params, pixels, service_with_styles
from PIL import Image

from sketch2render.errors import InvalidParameter
from sketch2render.render import build_service, read_recipe, save_render
from sketch2render.render.inpaint import EditInputs, edit_params
from sketch2render.render.ports import RenderControls
from sketch2render.render.upscale import UpscaleInputs
from sketch2render.schemas import RegionParams, RenderParams
from sketch2render.sketch.imaging import encode_png
from sketch2render.sketch.masks import mask_sha256

pytestmark = pytest.mark.slow  # renders with the tiny models


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_sdxl_dir, tiny_models_dir):
    styles = [("Starry swirls", ["night sky", "swirling"]), ("Gold leaf", ["gold", "ornamental"])]
    return service_with_styles(tmp_path_factory.mktemp("sdxl-home"), f"{tiny_sdxl_dir},{tiny_models_dir}", styles)


def test_the_first_profile_is_the_default_family_and_the_other_loads_on_first_use(service):
    assert service.families.default == "sdxl" and service.families.names == ("sdxl", "sd15")
    info = {f["family"]: f for f in service.info()["families"]}
    result = service.render(SKETCH, params())
    assert result.recipe.family == "sdxl" and result.recipe.params.family == "sdxl"
    assert result.recipe.models["profile"] == "tiny-sdxl" and result.recipe.speed.scheduler == "UniPCMultistepScheduler"
    assert type(service.renderer.pipe).__name__ == "StableDiffusionXLControlNetUnionPipeline"
    sd15 = service.render(SKETCH, params(family="sd15"))
    assert sd15.recipe.family == "sd15" and sd15.recipe.models["profile"] == "tiny"
    assert info["sd15"]["default"] is False
    assert {f["family"]: f["loaded"] for f in service.info()["families"]} == {"sdxl": True, "sd15": True}


def test_family_defaults_are_resolved_and_recorded(service):
    result = service.render(SKETCH, RenderParams(prompt="gold", steps=2, seed=1, size=64, speed="fast"))
    assert result.recipe.params.family == "sdxl" and result.recipe.params.guidance_scale == 1.0
    assert result.recipe.speed.scheduler == "EulerDiscreteScheduler" and result.recipe.speed.lora.startswith(
        "tiny-sdxl:"
    )


def test_same_seed_same_bytes_and_knobs_change_the_output(service):
    first = pixels(service.render(SKETCH, params()))
    assert np.array_equal(first, pixels(service.render(SKETCH, params())))
    assert not np.array_equal(first, pixels(service.render(SKETCH, params(seed=8))))
    assert not np.array_equal(first, pixels(service.render(SKETCH, params(control_strength=0.2))))
    assert not np.array_equal(first, pixels(service.render(SKETCH, params(style_strength=1.5))))


@pytest.mark.parametrize("kind", ["lineart", "scribble", "softedge", "auto"])
def test_every_control_type_goes_through_the_one_union_controlnet(service, kind):
    canny = service.render(SKETCH, params(control="canny"))
    result = service.render(SKETCH, params(control=kind))
    assert result.recipe.control["requested"] == kind
    assert result.recipe.models["controlnet"] == canny.recipe.models["controlnet"]  # one ControlNet for all
    if result.recipe.control["type"] in ("scribble", "softedge"):  # another control mode and another map
        assert not np.array_equal(pixels(result), pixels(canny))


def test_style_modes_blend_and_fallback(service):
    styles = ids(service)
    full = service.render(SKETCH, params(style_ids=[styles["Starry swirls"]]))
    other = service.render(SKETCH, params(style_ids=[styles["Gold leaf"]]))
    only = service.render(SKETCH, params(style_ids=[styles["Starry swirls"]], style_mode="style-only"))
    none = service.render(SKETCH, params(style_mode="none"))
    assert not np.array_equal(pixels(full), pixels(other))  # style A vs B
    assert not np.array_equal(pixels(full), pixels(only)) and not np.array_equal(pixels(only), pixels(none))
    assert none.recipe.fallback_reason and not [h for h in none.recipe.styles if h.weight]
    blended = service.render(SKETCH, params(prompt="swirling gold", blend=True))
    weights = [h.weight for h in blended.recipe.styles if h.weight]
    assert len(weights) == 2 and abs(sum(weights) - 1) < 1e-6
    empty = service.render(SKETCH, params(prompt="zzqx", min_style_score=0.99))
    assert empty.recipe.fallback_reason and "text only" in empty.recipe.fallback_reason


def test_style_only_switches_on_only_sdxls_style_block(service):
    styles = ids(service)
    service.render(SKETCH, params(style_ids=[styles["Gold leaf"]], style_mode="style-only"))
    processors = service.renderer.pipe.unet.attn_processors
    on = {
        name
        for name, proc in processors.items()
        if isinstance(getattr(proc, "scale", None), list) and any(float(s) != 0 for s in np.ravel(proc.scale))
    }
    assert on and all(name.startswith("up_blocks.0.attentions.1.") for name in on)


def test_style_embeddings_are_patch_tokens_cached_per_encoder(service):
    style = ids(service)["Gold leaf"]
    service.render(SKETCH, params(style_ids=[style]))
    renderer = service.renderer
    stored = service.library.load_ip_embeds(style, renderer.encoder_key)
    assert stored is not None and stored.ndim == 4  # [2, 1, tokens, hidden]: the Plus adapter reads patches
    sd15 = service.family("sd15").renderer
    assert sd15.encoder_key != renderer.encoder_key  # SD 1.5's pooled embedding is kept apart


def test_fast_live_previews_and_quality_untouched(service):
    before = pixels(service.render(SKETCH, params()))
    fast = service.render(SKETCH, params(speed="fast", steps=None))
    live = service.render(SKETCH, params(speed="live", steps=None))
    assert np.array_equal(before, pixels(service.render(SKETCH, params())))  # LoRA off, scheduler back
    assert fast.recipe.params.steps == 4 and live.recipe.speed.decoder == "taesd"
    assert not np.array_equal(pixels(fast), before)
    seen = []
    service.renderer.preview_every = 1
    try:
        service.render(SKETCH, params(steps=3), controls=RenderControls(preview=lambda step, img: seen.append(step)))
    finally:
        service.renderer.preview_every = 0
    assert seen == [1, 2]


def test_regions_each_get_their_own_style(service):
    left = Image.new("L", (128, 128), 0)
    left.paste(255, (0, 0, 64, 128))
    right = Image.eval(left, lambda v: 255 - v)
    masks = [encode_png(left), encode_png(right)]
    regions = [
        RegionParams(prompt=p, mask_sha256=mask_sha256(m))
        for p, m in zip(["ornamental gold", "night sky"], masks, strict=True)
    ]
    sketch = Image.open(io.BytesIO(SKETCH)).convert("RGB").resize((128, 128))
    result = service.render(sketch, params(regions=regions, size=64), masks=masks)
    titles = [next(h.style.title for h in r.styles if h.weight) for r in result.recipe.regions]
    assert titles == ["Gold leaf", "Starry swirls"] and result.recipe.family == "sdxl"


def test_auto_balance_and_scores(service):
    result = service.render(SKETCH, params(auto_balance=True))
    assert result.recipe.balance is not None and result.recipe.scores[0].structure is not None


def test_an_edit_keeps_the_parent_outside_its_band_and_an_upscale_doubles(service, tmp_path):
    parent = service.render(SKETCH, params())
    saved = save_render(parent, tmp_path, "parent")
    parent_png = saved.images[0].read_bytes()
    w, h = parent.images[0].size
    mask = Image.new("L", (w, h), 0)
    mask.paste(255, (w // 4, h // 4, w // 2, h // 2))
    changes = {"prompt": "gold leaf"}
    edit = service.edit(
        EditInputs(parent_png, parent.control_image, encode_png(mask), edit_params(parent.recipe.params, changes), 2)
    )
    assert edit.recipe.family == "sdxl" and edit.recipe.params.family == "sdxl"
    before, after = np.asarray(parent.images[0], np.int16), np.asarray(edit.images[0], np.int16)
    far = np.ones((h, w), bool)
    far[max(0, h // 4 - 4) : h // 2 + 4, max(0, w // 4 - 4) : w // 2 + 4] = False
    assert np.array_equal(before[far], after[far])
    big = service.upscale(UpscaleInputs(parent_png, factor=2, tile=64))
    assert big.images[0].size == (2 * w, 2 * h)
    assert "control_mode 6" in big.recipe.operation["controlnet"] and read_recipe(parent_png).family == "sdxl"


def test_a_family_not_served_is_a_422_naming_family(tmp_path, tiny_models_dir):
    only_sd15 = build_service(make_settings(tmp_path, tiny_models_dir))
    with pytest.raises(InvalidParameter) as err:
        only_sd15.render(SKETCH, params(family="sdxl"))
    assert err.value.field == "family"
