"""The FLUX.2 [klein] family on tiny-klein, through the same service as SD 1.5 and SDXL: the sketch and
the used styles go in as reference images (count and order change the output; none; named; the
fallback), edits keep the parent outside their band, upscales run tile by tile, what klein cannot
honour is a 422 naming the parameter and the family, and one process serves three families.

Random weights: the pictures are noise, so every test compares outputs to each other."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from family_renders import SKETCH, ids, params, pixels, service_with_styles
from PIL import Image

from sketch2render.errors import Cancelled, InvalidParameter, OutOfMemory
from sketch2render.families import KLEIN
from sketch2render.render import save_render
from sketch2render.render.inpaint import EditInputs, edit_params
from sketch2render.render.ports import RenderControls
from sketch2render.render.upscale import UpscaleInputs
from sketch2render.schemas import RegionParams, RenderParams
from sketch2render.sketch.imaging import encode_png

pytestmark = pytest.mark.slow  # renders with the tiny models

STYLES = [
    ("Starry swirls", ["night sky", "swirling"]),
    ("Gold leaf", ["gold", "ornamental"]),
    ("Ink wash", ["ink", "wash"]),
    ("Red clay", ["clay", "red"]),
    ("Blue glaze", ["glaze", "blue"]),
]


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_klein_dir, tiny_sdxl_dir, tiny_models_dir):
    models = f"{tiny_klein_dir},{tiny_sdxl_dir},{tiny_models_dir}"
    return service_with_styles(tmp_path_factory.mktemp("klein-home"), models, STYLES)


def passed(result) -> list[tuple[str, str | None]]:
    return [(image.kind, image.style_id) for image in result.recipe.references.images]


def test_klein_is_the_default_family_with_its_own_defaults(service):
    assert service.families.names == ("klein", "sdxl", "sd15")
    result = service.render(SKETCH, RenderParams(prompt="swirling night sky", seed=1, size=64))
    recipe = result.recipe
    assert recipe.family == "klein" and recipe.params.family == "klein"
    assert (recipe.params.steps, recipe.params.guidance_scale) == (4, 1.0)  # the distilled schedule
    assert recipe.models["controlnet"].startswith("none") and recipe.scores[0].structure is not None
    warning = recipe.scores[0].structure_warning  # klein's own advice: it has no strengths to change
    assert not warning or ("auto_balance" in warning and "strength" not in warning)
    assert RenderParams(prompt="x", family="klein").size == 1024


def test_the_sketch_then_the_top_style_are_the_references_with_the_instruction(service):
    styles = ids(service)
    result = service.render(SKETCH, params())
    assert passed(result) == [("sketch", None), ("style", styles["Starry swirls"])]
    references = result.recipe.references
    assert references.reference_from == "sketch" and "{prompt}" in references.instruction
    assert "image 1" in references.prompt and references.prompt.endswith("swirling night sky")


def test_count_and_order_of_the_style_references_change_the_output(service):
    styles = ids(service)
    a, b = styles["Starry swirls"], styles["Gold leaf"]
    one = service.render(SKETCH, params(style_ids=[a]))
    ab = service.render(SKETCH, params(style_ids=[a, b]))
    ba = service.render(SKETCH, params(style_ids=[b, a]))
    assert passed(ab)[1:] == [("style", a), ("style", b)] and passed(ba)[1:] == [("style", b), ("style", a)]
    assert not np.array_equal(pixels(one), pixels(ab))  # count
    assert not np.array_equal(pixels(ab), pixels(ba))  # order
    assert np.array_equal(pixels(ab), pixels(service.render(SKETCH, params(style_ids=[a, b]))))  # seeded


def test_at_most_the_models_reference_limit_goes_in(service):
    every = list(ids(service).values())
    result = service.render(SKETCH, params(style_ids=every))
    assert len(passed(result)) == KLEIN.reference_limit and passed(result)[0] == ("sketch", None)
    blended = service.render(SKETCH, params(prompt="swirling gold ink", blend=True, top_k=5, min_style_score=-1.0))
    weights = [image.weight for image in blended.recipe.references.images[1:]]
    assert len(weights) == KLEIN.reference_limit - 1 and weights == sorted(weights, reverse=True)


def test_style_mode_none_and_the_fallback_pass_only_the_sketch(service):
    styled = service.render(SKETCH, params())
    none = service.render(SKETCH, params(style_mode="none"))
    assert passed(none) == [("sketch", None)] and none.recipe.fallback_reason
    assert "image 2" not in none.recipe.references.prompt
    assert not np.array_equal(pixels(styled), pixels(none))
    empty = service.render(SKETCH, params(prompt="zzqx", min_style_score=0.99))
    assert passed(empty) == [("sketch", None)] and "text only" in empty.recipe.fallback_reason


def test_reference_one_can_be_the_control_image_instead(service):
    generator = service.family("klein").renderer
    sketch = service.render(SKETCH, params(style_mode="none"))
    generator.family = replace(KLEIN, reference_from="control")
    try:
        control = service.render(SKETCH, params(style_mode="none"))
    finally:
        generator.family = KLEIN
    assert passed(control) == [("control", None)] and control.recipe.references.reference_from == "control"
    assert not np.array_equal(pixels(sketch), pixels(control))


def test_speed_presets_and_previews_decoded_at_half_size(service):
    quality = service.render(SKETCH, params(steps=None))
    live = service.render(SKETCH, params(speed="live", steps=None))
    assert (quality.recipe.params.steps, live.recipe.params.steps) == (4, 2) and live.recipe.speed.preset == "live"
    assert not np.array_equal(pixels(quality), pixels(live))
    generator, seen = service.family("klein").renderer, []
    generator.preview_every = 1
    try:
        controls = RenderControls(preview=lambda step, image: seen.append((step, image.size)))
        done = service.render(SKETCH, params(steps=3, size=128), controls=controls)
    finally:
        generator.preview_every = 0
    w, h = done.images[0].size
    assert [step for step, _ in seen] == [1, 2] and seen[0][1] == (w // 16 * 16 // 2, h // 16 * 16 // 2)


def test_progress_cancel_and_out_of_memory_are_the_domain_ones(service, monkeypatch):
    import threading

    steps, cancel = [], threading.Event()

    def progress(step, total):
        steps.append((step, total))
        cancel.set()  # cancelled after the first step

    with pytest.raises(Cancelled):
        service.render(SKETCH, params(steps=3), controls=RenderControls(progress=progress, cancel=cancel))
    assert steps == [(1, 3)]
    generator = service.family("klein").renderer

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(generator, "pipe", out_of_memory)
    with pytest.raises(OutOfMemory) as err:
        service.render(SKETCH, params())
    assert "S2R_OFFLOAD" in err.value.message


REFUSED = {
    "guidance_scale": 3.0,
    "negative_prompt": "blurry",
    "control_strength": 0.5,
    "control_start": 0.2,
    "control_end": 0.8,
    "style_strength": 0.3,
    "style_mode": "style-only",
    "regions": [RegionParams(prompt="gold")],
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_klein_cannot_honour_is_a_422_naming_the_parameter_and_the_family(service, name):
    with pytest.raises(InvalidParameter) as err:
        service.render(SKETCH, params(**{name: REFUSED[name]}))
    assert err.value.field == name and "klein" in err.value.message


def test_auto_balance_varies_reference_one_and_the_number_of_style_references(service):
    styles = ids(service)
    chosen_styles = [styles["Starry swirls"], styles["Gold leaf"]]
    result = service.render(SKETCH, params(style_ids=chosen_styles, auto_balance=True))
    report = result.recipe.balance
    assert {(p.reference_from, p.style_references) for p in report.grid} == {
        (ref, n) for ref in ("sketch", "control") for n in (0, 1, 2)
    }
    chosen = report.chosen
    assert passed(result)[0][0] == chosen.reference_from and len(passed(result)) - 1 == chosen.style_references
    assert all(p.style_similarity is not None for p in report.grid)  # measured against the used styles


def test_values_klein_honours_pass_and_a_size_off_its_grid_is_refused(service):
    for given in ({"style_mode": "full"}, {"style_mode": "none"}, {"guidance_scale": 1.0}, {"auto_balance": False}):
        service.prepare_params(params(**given))
    with pytest.raises(InvalidParameter) as err:
        service.render(SKETCH, params(size=72))
    assert err.value.field == "size" and "klein" in err.value.message and "16" in err.value.message
    service.prepare_params(params(size=72, family="sd15"))  # the other families keep their grid of 8


def test_an_edit_keeps_the_parent_outside_its_band_and_an_upscale_doubles(service, tmp_path):
    parent = service.render(SKETCH, params(size=128))
    saved = save_render(parent, tmp_path, "parent")
    parent_png = saved.images[0].read_bytes()
    w, h = parent.images[0].size
    mask = Image.new("L", (w, h), 0)
    mask.paste(255, (w // 4, h // 4, w // 2, h // 2))
    inputs = EditInputs(parent_png, parent.control_image, encode_png(mask), edit_params(parent.recipe.params, {}), 2)
    edit = service.edit(inputs)
    recipe = edit.recipe
    assert recipe.family == "klein" and recipe.references.images[0].kind == "parent"
    before, after = np.asarray(parent.images[0], np.int16), np.asarray(edit.images[0], np.int16)
    far = np.ones((h, w), bool)
    far[max(0, h // 4 - 4) : h // 2 + 4, max(0, w // 4 - 4) : w // 2 + 4] = False
    assert np.array_equal(before[far], after[far]) and not np.array_equal(before[~far], after[~far])
    restyled = service.edit(replace(inputs, params=edit_params(parent.recipe.params, {"style_mode": "none"})))
    assert [i.kind for i in restyled.recipe.references.images] == ["parent"]
    with pytest.raises(InvalidParameter) as err:
        service.edit(replace(inputs, params=edit_params(parent.recipe.params, {"style_strength": 0.2})))
    assert err.value.field == "style_strength"
    big = service.upscale(UpscaleInputs(parent_png, factor=2, tile=64, overlap=16))
    assert big.images[0].size == (2 * w, 2 * h) and big.recipe.family == "klein"
    assert big.recipe.operation["tiles"] == 25 and "all-white mask" in big.recipe.operation["controlnet"]
    flat = service.upscale(UpscaleInputs(parent_png, factor=2, tile=64, overlap=16, detail_strength=0.0))
    assert not np.array_equal(pixels(big), pixels(flat))  # the tiles were repainted


def test_three_families_render_in_one_process(service):
    seen = {}
    for family in ("klein", "sdxl", "sd15"):
        result = service.render(SKETCH, params(family=family, style_mode="none"))
        seen[family] = result.recipe.family
        assert result.images[0].size[0] > 0
    assert seen == {"klein": "klein", "sdxl": "sdxl", "sd15": "sd15"}


def test_the_ui_disables_what_the_picked_family_refuses(service):
    from sketch2render.ui.families import FamilyChoice

    klein = FamilyChoice.from_info(service.families.get("klein").summary("klein", True))
    sd15 = FamilyChoice.from_info(service.families.get("sd15").summary("klein", True))
    assert klein.off("control_strength") and klein.off("guidance_scale") and not sd15.off("control_strength")
    assert "ControlNet" in klein.help("control_strength", "") and sd15.help("control_strength", "x") == "x"
    assert (klein.native_size, klein.steps, klein.guidance_scale) == (1024, 4, 1.0)
