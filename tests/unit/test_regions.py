"""A style per region on the tiny models: each region's prompt retrieves its own style, the
IP-Adapter gets one masked image per styled region (and the global style on the rest), and the
recipe records every region, its mask hash and its style."""

from __future__ import annotations

import io

import numpy as np
import pytest
from builders import make_settings
from PIL import Image, ImageDraw

from sketch2render.config import Settings
from sketch2render.errors import InvalidParameter
from sketch2render.render import build_service, read_recipe, save_render
from sketch2render.render.regions import background, ip_adapter_inputs
from sketch2render.schemas import RegionParams, RenderParams, StyleMeta
from sketch2render.sketch.imaging import encode_png
from sketch2render.sketch.masks import mask_sha256

pytestmark = pytest.mark.slow  # renders with the tiny models: left out of `make test-fast`

W, H = 96, 64


def sketch() -> bytes:
    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 40, 50), outline="black", width=2)
    draw.ellipse((52, 12, 86, 52), outline="black", width=2)
    return encode_png(image)


def half(side: str) -> bytes:
    """White on black: the left or right half of the sketch."""
    mask = Image.new("L", (W, H), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, W // 2 - 1, H) if side == "left" else (W // 2, 0, W, H), fill=255)
    return encode_png(mask)


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_models_dir):
    svc = build_service(make_settings(tmp_path_factory.mktemp("regions"), tiny_models_dir))
    rng = np.random.default_rng(1)
    for title, tags in [("Starry swirls", ["night sky", "swirling"]), ("Gold leaf", ["gold", "ornamental"])]:
        svc.library.add_image(
            Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)), StyleMeta(title=title, tags=tags)
        )
    return svc


def region_params(prompts: list[str], masks: list[bytes], **extra) -> RenderParams:
    regions = [RegionParams(prompt=p, mask_sha256=mask_sha256(m)) for p, m in zip(prompts, masks, strict=True)]
    return RenderParams(prompt="a vase and a ball", steps=2, size=96, seed=3, regions=regions, **extra)


def test_each_region_gets_the_style_retrieved_for_its_prompt_and_the_recipe_says_so(service, tmp_path):
    masks = [half("left"), half("right")]
    prompts = ["ornamental gold", "swirling night sky"]
    result = service.render(sketch(), region_params(prompts, masks), masks=masks)
    recipe = result.recipe
    assert [r.prompt for r in recipe.regions] == prompts
    assert [r.mask_sha256 for r in recipe.regions] == [mask_sha256(m) for m in masks]
    assert [r.area for r in recipe.regions] == [0.5, 0.5]
    for region, prompt in zip(recipe.regions, prompts, strict=True):
        expected = service.search.search(prompt, k=3)[0]  # the same hybrid retrieval as a whole render
        used = [h for h in region.styles if h.weight]
        assert [h.id for h in used] == [expected.id] and used[0].weight == 1.0
    titles = [next(h for h in r.styles if h.weight).style.title for r in recipe.regions]
    assert titles == ["Gold leaf", "Starry swirls"]
    scores = result.recipe.scores[0].regions  # style similarity per region, against its own style
    assert [s.prompt for s in scores] == prompts and all(-1 <= s.style_similarity <= 1 for s in scores)
    saved = save_render(result, tmp_path)
    assert read_recipe(saved.images[0].read_bytes()).regions == recipe.regions


def test_regions_change_the_render_and_swapping_the_prompts_changes_it_again(service):
    masks = [half("left"), half("right")]
    plain = np.asarray(service.render(sketch(), region_params([], [])).images[0], dtype=np.int16)
    a = service.render(sketch(), region_params(["ornamental gold", "swirling night sky"], masks), masks=masks)
    b = service.render(sketch(), region_params(["swirling night sky", "ornamental gold"], masks), masks=masks)
    a_pixels, b_pixels = (np.asarray(r.images[0], dtype=np.int16) for r in (a, b))
    assert np.abs(a_pixels - plain).mean() > 0.1 and np.abs(a_pixels - b_pixels).mean() > 0.1
    again = service.render(sketch(), region_params(["ornamental gold", "swirling night sky"], masks), masks=masks)
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(a.images[0]))  # the seed reproduces it


def test_a_region_whose_prompt_finds_nothing_falls_back_like_the_global_style(service):
    masks = [half("left")]
    result = service.render(sketch(), region_params(["zzqx"], masks, min_style_score=1.0), masks=masks)
    (region,) = result.recipe.regions
    assert "below the minimum" in region.fallback_reason and all(h.weight is None for h in region.styles)
    assert result.recipe.scores[0].regions[0].style_similarity is None


def test_the_ip_adapter_gets_one_masked_image_per_styled_region_and_the_global_style_elsewhere():
    import torch

    left = Image.new("L", (16, 8), 0)
    ImageDraw.Draw(left).rectangle((0, 0, 3, 7), fill=255)
    right = left.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    a, b, g = torch.ones(2, 1, 4), torch.full((2, 1, 4), 2.0), torch.full((2, 1, 4), 3.0)
    embeds, masks = ip_adapter_inputs(g, [a, b], [left, right])
    assert embeds.shape == (2, 3, 4) and embeds[0, :, 0].tolist() == [1.0, 2.0, 3.0]
    assert masks.shape == (1, 3, 8, 16)
    assert masks[0, 0].sum() == 32 and masks[0, 1].sum() == 32 and masks[0, 2].sum() == 64  # the middle 8 columns
    assert torch.equal(masks.sum(dim=1), torch.ones(1, 8, 16))  # every pixel gets exactly one style
    embeds, masks = ip_adapter_inputs(None, [None, b], [left, right])  # no global style, region 1 fell back
    assert embeds.shape == (2, 1, 4) and masks.shape == (1, 1, 8, 16)
    assert ip_adapter_inputs(None, [None], [left]) == (None, None)
    assert np.asarray(background([left, right])).sum() == 255 * 64


def test_a_mask_of_another_size_an_empty_mask_and_a_missing_mask_are_refused(service):
    wrong = encode_png(Image.new("L", (W + 8, H), 255))
    with pytest.raises(InvalidParameter, match="must match") as caught:
        service.render(sketch(), region_params(["gold"], [wrong]), masks=[wrong])
    assert caught.value.field == "region_mask"
    empty = encode_png(Image.new("L", (W, H), 0))
    with pytest.raises(InvalidParameter, match="empty"):
        service.render(sketch(), region_params(["gold"], [empty]), masks=[empty])
    with pytest.raises(InvalidParameter, match="one mask per prompt"):
        service.render(sketch(), region_params(["gold"], [half("left")]), masks=[])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_sketch_several_times_the_render_size_takes_masks_of_its_own_size(service, fmt):
    """Alone, a big sketch is decoded at about the render's size; with region masks (its own size),
    at full size."""
    big = Image.open(io.BytesIO(sketch())).resize((W * 4, H * 4), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    big.save(buffer, format=fmt)
    masks = [encode_png(Image.open(io.BytesIO(half("left"))).resize(big.size, Image.Resampling.NEAREST))]
    result = service.render(buffer.getvalue(), region_params(["gold"], masks), masks=masks)
    assert result.images[0].size == (W, H) and len(result.recipe.regions) == 1


def test_a_render_too_small_for_the_mask_grid_is_refused_naming_size(service):
    """At 64 px a wide image's coarsest attention grid is one cell: diffusers' mask downsampling
    would divide by zero, so the renderer refuses the size (SD 1.5 has the same depth as tiny)."""
    masks = [half("left")]
    with pytest.raises(InvalidParameter, match="too small for regions") as caught:
        service.render(sketch(), region_params(["gold"], masks).model_copy(update={"size": 64}), masks=masks)
    assert caught.value.field == "size"


def test_paint_on_a_transparent_layer_is_a_mask():
    from sketch2render.sketch.masks import decode_mask

    layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    ImageDraw.Draw(layer).rectangle((0, 0, 9, 9), fill=(200, 30, 30, 255))
    mask = decode_mask(encode_png(layer), Settings().limits, size=(W, H), field="region_mask")
    assert np.asarray(mask).sum() == 255 * 100
