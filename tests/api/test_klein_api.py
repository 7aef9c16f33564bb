"""FLUX.2 [klein] over HTTP, on one server serving tiny-klein, tiny-sdxl and tiny: `/v1/families` lists
the three with what klein refuses, a klein render records its reference images, an edit stays on klein
and keeps the parent's pixels far from the mask, an upscale doubles it on klein, and each parameter klein
cannot honour is a 422 naming the field and the family."""

from __future__ import annotations

import io

import numpy as np
import pytest
from builders import make_settings
from PIL import Image, ImageDraw

from api.conftest import assert_error, sketch_png, submit, wait_for
from sketch2render.render import build_service, read_recipe
from sketch2render.sketch.imaging import encode_png

pytestmark = pytest.mark.slow  # renders with the tiny models


@pytest.fixture(scope="module")
def three(tmp_path_factory, tiny_klein_dir, tiny_sdxl_dir, tiny_models_dir):
    home = tmp_path_factory.mktemp("klein-api-home")
    return build_service(make_settings(home, f"{tiny_klein_dir},{tiny_sdxl_dir},{tiny_models_dir}"))


def test_three_families_are_listed_and_each_renders(harness, three):
    client, _ = harness.client(service=three)
    body = client.get("/v1/families").json()
    listed = {f["family"]: f for f in body["families"]}
    assert body["default"] == "klein" and list(listed) == ["klein", "sdxl", "sd15"]
    klein = listed["klein"]
    assert klein["native_size"] == 1024 and klein["size_multiple"] == 16 and klein["speeds"]["quality"]["steps"] == 4
    assert {"guidance_scale", "control_strength", "style_strength", "regions"} <= set(klein["unsupported"])
    for family in ("klein", "sdxl", "sd15"):
        job = submit(client, prompt="gold", steps="2", size="64", seed="3", family=family)
        done = wait_for(client, job.json()["id"], timeout=180)
        assert done["status"] == "succeeded" and done["result"]["family"] == family, done


def test_a_klein_render_records_its_references_and_an_edit_and_upscale_stay_on_klein(harness, three):
    client, _ = harness.client(service=three, upscale_tile=64)
    render = wait_for(client, submit(client, prompt="a box", steps="2", size="64", seed="5").json()["id"], timeout=180)
    assert render["status"] == "succeeded", render
    recipe = read_recipe(client.get(render["urls"]["images"][0]).content)
    assert recipe.family == "klein" and recipe.references.images[0].kind == "sketch"
    w, h = render["result"]["width"], render["result"]["height"]
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 24, 24), fill=255)
    edit = client.post(
        f"/v1/renders/{render['id']}/edit",
        data={"prompt": "gold leaf", "feather": "2"},
        files={"mask": ("m.png", encode_png(mask), "image/png")},
    )
    edited = wait_for(client, edit.json()["id"], timeout=180)
    assert edited["status"] == "succeeded", edited
    data = client.get(edited["urls"]["images"][0]).content
    assert read_recipe(data).family == "klein"
    before = np.asarray(Image.open(io.BytesIO(client.get(render["urls"]["images"][0]).content)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(before[40:, 40:], after[40:, 40:])  # far from the mask: the parent's pixels
    refused = client.post(
        f"/v1/renders/{render['id']}/edit",
        data={"prompt": "gold", "style_strength": "0.2"},
        files={"mask": ("m.png", encode_png(mask), "image/png")},
    )
    assert_error(refused, 422, field="style_strength")
    up = client.post(f"/v1/renders/{render['id']}/upscale", data={"factor": "2"})
    big = wait_for(client, up.json()["id"], timeout=240)
    assert big["status"] == "succeeded", big
    chain = read_recipe(client.get(big["urls"]["images"][0]).content)
    assert chain.family == "klein" and (chain.width, chain.height) == (2 * w, 2 * h)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("guidance_scale", "3"),
        ("negative_prompt", "blurry"),
        ("control_strength", "0.5"),
        ("style_strength", "0.3"),
        ("style_mode", "style-only"),
        ("size", "72"),
    ],
)
def test_what_klein_cannot_honour_is_a_422_naming_it_and_the_family(harness, three, name, value):
    client, _ = harness.client(service=three)
    error = assert_error(submit(client, prompt="x", **{name: value}), 422, field=name)
    assert "klein" in error["message"]


def test_a_region_on_klein_is_a_422_naming_region_mask(harness, three):
    client, _ = harness.client(service=three)
    left = Image.new("L", (96, 64), 0)
    ImageDraw.Draw(left).rectangle((0, 0, 47, 63), fill=255)
    files = [
        ("sketch", ("s.png", sketch_png(), "image/png")),
        ("region_mask", ("m.png", encode_png(left), "image/png")),
    ]
    data = {"prompt": "a box", "steps": "2", "size": "96", "seed": "5", "region_prompt": ["gold"]}
    response = client.post("/v1/renders", data=data, files=files)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "region_mask" and "klein" in error["message"]
