"""Model families over HTTP, on one server serving tiny-sdxl (the default) and tiny: `/v1/families` and
`/readyz` list them, a render names its family (or gets the default), an edit and an upscale run on
their parent's family, and an unknown or unserved family is a 422 naming `family`."""

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
def both(tmp_path_factory, tiny_sdxl_dir, tiny_models_dir):
    home = tmp_path_factory.mktemp("families-home")
    return build_service(make_settings(home, f"{tiny_sdxl_dir},{tiny_models_dir}"))


def test_families_are_listed_with_the_default_first(harness, both):
    client, _ = harness.client(service=both)
    body = client.get("/v1/families").json()
    assert body["default"] == "sdxl"
    listed = {f["family"]: f for f in body["families"]}
    assert list(listed) == ["sdxl", "sd15"]
    assert listed["sdxl"]["default"] and listed["sdxl"]["native_size"] == 1024
    assert listed["sd15"]["native_size"] == 512 and listed["sdxl"]["speeds"]["fast"]["steps"] == 4
    assert set(listed["sdxl"]["control_types"]) == {"canny", "lineart", "scribble", "softedge"}
    ready = client.get("/readyz").json()
    assert ready["family"] == "sdxl" and [f["family"] for f in ready["families"]] == ["sdxl", "sd15"]


def test_a_render_names_its_family_or_gets_the_default(harness, both):
    client, _ = harness.client(service=both)
    default = wait_for(client, submit(client, prompt="gold", steps="2", size="64", seed="3").json()["id"], timeout=180)
    assert default["status"] == "succeeded", default
    assert default["params"]["family"] == "sdxl" and default["result"]["family"] == "sdxl"
    sd15 = wait_for(
        client, submit(client, prompt="gold", steps="2", size="64", seed="3", family="sd15").json()["id"], timeout=180
    )
    assert sd15["status"] == "succeeded" and sd15["result"]["family"] == "sd15"
    loaded = {f["family"]: f["loaded"] for f in client.get("/v1/families").json()["families"]}
    assert loaded == {"sdxl": True, "sd15": True}


def test_family_defaults_are_resolved_before_the_job_is_stored(harness, both):
    client, _ = harness.client(service=both)
    files = {"sketch": ("s.png", sketch_png(), "image/png")}
    job = client.post("/v1/renders", data={"prompt": "gold", "speed": "live"}, files=files)
    assert job.status_code == 202, job.text
    stored = client.app.state.runtime.store.get(job.json()["id"]).params
    assert (stored["family"], stored["size"], stored["steps"], stored["guidance_scale"]) == ("sdxl", 768, 4, 1.0)
    client.delete(f"/v1/renders/{job.json()['id']}")


def test_unknown_and_unserved_families_are_422s_naming_family(harness, both, tiny_models_dir, tmp_path):
    client, _ = harness.client(service=both)
    assert_error(submit(client, prompt="x", family="sd3"), 422, field="family")
    only_sd15 = build_service(make_settings(tmp_path, tiny_models_dir))
    other, _ = harness.client(service=only_sd15)
    response = submit(other, prompt="x", family="sdxl")
    assert_error(response, 422, field="family")
    assert "not served" in response.json()["error"]["message"]


def test_an_sdxl_edit_and_upscale_stay_on_sdxl(harness, both):
    client, _ = harness.client(service=both, upscale_tile=64)
    render = wait_for(client, submit(client, prompt="a box", steps="2", size="64", seed="5").json()["id"], timeout=180)
    assert render["status"] == "succeeded", render
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
    recipe = read_recipe(data)
    assert recipe.family == "sdxl" and recipe.parent.recipe.family == "sdxl"
    before = np.asarray(Image.open(io.BytesIO(client.get(render["urls"]["images"][0]).content)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(before[40:, 40:], after[40:, 40:])  # far from the mask: the parent's pixels
    up = client.post(f"/v1/renders/{edited['id']}/upscale", data={"factor": "2"})
    big = wait_for(client, up.json()["id"], timeout=240)
    assert big["status"] == "succeeded", big
    chain = read_recipe(client.get(big["urls"]["images"][0]).content)
    assert chain.family == "sdxl" and (chain.width, chain.height) == (2 * w, 2 * h)


def test_a_sketch_and_a_family_with_regions(harness, both):
    client, _ = harness.client(service=both)
    left = Image.new("L", (96, 64), 0)
    ImageDraw.Draw(left).rectangle((0, 0, 47, 63), fill=255)
    files = [
        ("sketch", ("s.png", sketch_png(), "image/png")),
        ("region_mask", ("m.png", encode_png(left), "image/png")),
    ]
    data = {"prompt": "a box", "steps": "2", "size": "96", "seed": "5", "region_prompt": ["gold"], "family": "sdxl"}
    job = wait_for(client, client.post("/v1/renders", data=data, files=files).json()["id"], timeout=180)
    assert job["status"] == "succeeded", job
    assert job["result"]["family"] == "sdxl" and len(job["result"]["regions"]) == 1
