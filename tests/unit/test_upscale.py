"""Upscales on the tiny models: the tiles cover the output and overlap, their blend weights leave
no seam, and a 512x384 render becomes 1024x768 with no step in mean intensity along tile borders."""

from __future__ import annotations

import numpy as np
import pytest
from builders import make_settings
from PIL import Image

from sketch2render.errors import InvalidParameter
from sketch2render.render import build_service, png_with_recipe
from sketch2render.render.upscale import TileBlender, UpscaleInputs, tile_boxes, tile_weights
from sketch2render.schemas import RenderParams, RenderRecipe

pytestmark = pytest.mark.slow  # renders with the tiny models: left out of `make test-fast`

SEAM_TOLERANCE = 2.0  # grey levels (of 255): the most the mean of 8 columns (rows) may step across a tile border


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_models_dir):
    return build_service(make_settings(tmp_path_factory.mktemp("up"), tiny_models_dir))


def flat_parent(size=(512, 384), grey=128) -> bytes:
    """A flat-colour 'render' with a recipe: 1 step, no classifier-free guidance (fast on CPU)."""
    params = RenderParams(prompt="a flat grey wall", steps=1, guidance_scale=1.0, style_mode="none", seed=11)
    recipe = RenderRecipe(params=params, seed=11, width=size[0], height=size[1], models={"profile": "tiny"})
    return png_with_recipe(Image.new("RGB", size, (grey,) * 3), recipe)


def test_tiles_cover_the_output_overlap_and_their_weights_sum_to_a_smooth_whole():
    boxes = tile_boxes(1024, 768, 512, 64)
    assert boxes[0] == (0, 0, 512, 512) and boxes[-1] == (512, 256, 1024, 768)
    assert all(b[2] - b[0] == 512 and b[3] - b[1] == 512 for b in boxes)
    total = np.zeros((768, 1024))
    for box in boxes:
        total[box[1] : box[3], box[0] : box[2]] += tile_weights(box, (1024, 768), 64)
    assert total.min() > 0  # every pixel is covered with a positive weight
    assert tile_boxes(96, 64, 512, 64) == [(0, 0, 96, 64)]  # smaller than a tile: one tile
    corner = tile_weights((0, 0, 512, 512), (1024, 768), 64)
    assert corner[0, 0] == 1.0 and corner[0, -1] < 0.01 and corner[-1, 0] < 0.01  # ramps only towards neighbours


def border_steps(pixels: np.ndarray, boxes, band: int = 8) -> list[float]:
    """The step in mean intensity across every inner tile border: |mean of the `band` columns (rows)
    before it - mean of the `band` after it| (the bands average the texture out, not a seam)."""
    height, width = pixels.shape[:2]
    steps = []
    for axis, length in ((1, width), (0, height)):
        borders = {b[axis - 1 if axis else 1] for b in boxes} | {b[axis + 1 if axis else 3] for b in boxes}
        for e in sorted(b for b in borders if band <= b <= length - band):
            before = pixels[:, e - band : e] if axis else pixels[e - band : e]
            after = pixels[:, e : e + band] if axis else pixels[e : e + band]
            steps.append(abs(float(before.mean()) - float(after.mean())))
    return steps


def test_blending_two_different_tiles_ramps_across_the_overlap_without_a_step():
    blender = TileBlender((192, 64), 64)
    blender.add((0, 0, 128, 64), Image.new("RGB", (128, 64), (100,) * 3))
    blender.add((64, 0, 192, 64), Image.new("RGB", (128, 64), (164,) * 3))
    row = np.asarray(blender.image())[0, :, 0].astype(int)
    assert row[0] == 100 and row[-1] == 164 and (row[:64] == 100).all() and (row[128:] == 164).all()
    assert np.abs(np.diff(row)).max() <= 2  # 64 levels over 64 px: about one level a pixel, never a jump


def test_upscale_by_2_of_512x384_is_1024x768_with_no_seam_on_a_flat_colour(service):
    result = service.upscale(UpscaleInputs(flat_parent(), factor=2, detail_strength=1.0, tile=512, overlap=64))
    image = np.asarray(result.images[0], dtype=np.float64)
    assert image.shape == (768, 1024, 3)
    assert result.recipe.operation["tiles"] == 6 and result.recipe.operation["factor"] == 2
    steps = border_steps(image, tile_boxes(1024, 768, 512, 64))
    assert len(steps) == 5 and max(steps) <= SEAM_TOLERANCE, steps


def test_a_factor_of_3_and_a_strength_above_1_are_refused_naming_the_field():
    with pytest.raises(InvalidParameter) as caught:
        UpscaleInputs(b"", factor=3).check()
    assert caught.value.field == "factor"
    with pytest.raises(InvalidParameter) as caught:
        UpscaleInputs(b"", detail_strength=1.5).check()
    assert caught.value.field == "detail_strength"


def test_the_upscale_and_inpaint_pipelines_share_the_loaded_modules(service):
    renderer = service.renderer
    with renderer.session("canny", "quality", "full", 0.5):
        inpaint = renderer.derived("StableDiffusionControlNetInpaintPipeline")
        img2img = renderer.derived("StableDiffusionControlNetImg2ImgPipeline", renderer.controlnets.get("tile"))
    for pipe in (inpaint, img2img):
        assert pipe.unet is renderer.pipe.unet and pipe.vae is renderer.pipe.vae
        assert pipe.text_encoder is renderer.pipe.text_encoder and pipe.image_encoder is renderer.pipe.image_encoder
    assert inpaint.controlnet is renderer.pipe.controlnet and img2img.controlnet is not renderer.pipe.controlnet
