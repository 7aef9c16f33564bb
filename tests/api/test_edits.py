"""Regions, edits and upscales over HTTP. The 4xx checks run on the fake service; the chain
render with two regions -> edit -> upscale x2 runs on the tiny models (the real code path)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from builders import make_settings
from PIL import Image, ImageDraw

from api.conftest import assert_error, sketch_png, submit, wait_for
from sketch2render.render import build_service, read_recipe
from sketch2render.render.ports import RenderControls
from sketch2render.schemas import StyleMeta
from sketch2render.sketch.imaging import encode_png
from sketch2render.sketch.masks import mask_sha256

pytestmark = pytest.mark.slow  # edits with the tiny models: left out of `make test-fast`

W, H = 96, 64
FEATHER = 4


def box_mask(box: tuple[int, int, int, int], size: tuple[int, int] = (W, H)) -> bytes:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return encode_png(mask)


def post_regions(client, masks: list[bytes], prompts: list[str], **fields):
    data = {"prompt": "a box", "steps": "2", "size": "96", "seed": "5", "region_prompt": prompts, **fields}
    files = [("sketch", ("s.png", sketch_png(), "image/png"))]
    files += [("region_mask", (f"m{i}.png", m, "image/png")) for i, m in enumerate(masks)]
    return client.post("/v1/renders", data=data, files=files)


def edit(client, job_id: str, mask: bytes, **fields):
    data = {"prompt": "gold leaf", "feather": str(FEATHER), **fields}
    return client.post(f"/v1/renders/{job_id}/edit", data=data, files={"mask": ("m.png", mask, "image/png")})


# --------------------------------------------------------------------------- refusals (fake service)
def test_region_masks_that_do_not_fit_are_422s_naming_the_field(client):
    left = box_mask((0, 0, 47, 63))
    assert_error(post_regions(client, [box_mask((0, 0, 9, 9), (W + 8, H))], ["x"]), 422, field="region_mask")
    assert_error(post_regions(client, [encode_png(Image.new("L", (W, H), 0))], ["x"]), 422, field="region_mask")
    assert_error(post_regions(client, [left, left], ["only one"]), 422, field="region_prompt")
    assert_error(post_regions(client, [left], ["  "]), 422, field="region_prompt")
    accepted = post_regions(client, [left], ["gold"])
    assert accepted.status_code == 202
    job = client.app.state.runtime.store.get(accepted.json()["id"])
    assert job.params["regions"] == [{"prompt": "gold", "mask_sha256": mask_sha256(left)}]


def test_edit_and_upscale_refuse_bad_masks_and_factors_with_422s_naming_the_field(client):
    job = wait_for(client, submit(client, size="96").json()["id"])
    assert job["status"] == "succeeded"
    assert_error(edit(client, job["id"], box_mask((0, 0, 9, 9), (W + 8, H))), 422, field="mask")
    assert_error(edit(client, job["id"], encode_png(Image.new("L", (W, H), 0))), 422, field="mask")
    assert_error(edit(client, job["id"], box_mask((0, 0, 9, 9)), feather="999"), 422, field="feather")
    assert_error(edit(client, job["id"], box_mask((0, 0, 9, 9)), guidance="3"), 422, field="guidance")
    for factor in ("3", "1", "8"):
        response = client.post(f"/v1/renders/{job['id']}/upscale", data={"factor": factor})
        assert "factor" in assert_error(response, 422, field="factor")["message"]
    response = client.post(f"/v1/renders/{job['id']}/upscale", data={"detail_strength": "1.5"})
    assert_error(response, 422, field="detail_strength")


def test_an_unfinished_render_cannot_be_edited(harness):
    import threading

    from api.fakes import FakeRenderService

    gate = threading.Event()
    client, _ = harness.client(service=FakeRenderService(harness.settings(), gate=gate))
    job_id = submit(client, size="96").json()["id"]
    assert_error(edit(client, job_id, box_mask((0, 0, 9, 9))), 409, field="id")
    gate.set()


def test_a_parent_written_before_the_rename_can_still_be_edited_and_upscaled(client):
    import threading

    from sketch2render.jobs.derived import run_derived

    job = wait_for(client, submit(client, size="96").json()["id"])
    store = client.app.state.runtime.store
    parent_dir = store.job_dir(job["id"])
    control = (parent_dir / "render.control.png").read_bytes()
    (parent_dir / "render.control.png").rename(parent_dir / "render.edges.png")  # the old name
    edit_id = edit(client, job["id"], box_mask((0, 0, 9, 9))).json()["id"]
    assert (store.job_dir(edit_id) / "parent.control.png").read_bytes() == control
    assert client.post(f"/v1/renders/{job['id']}/upscale", data={"factor": "2"}).status_code == 202
    # An edit stored before the rename keeps its parent's control image as parent.edges.png.
    edit_dir = store.job_dir(edit_id)
    (edit_dir / "parent.control.png").rename(edit_dir / "parent.edges.png")

    class Recorder:
        def edit(self, inputs, **_):
            return inputs

    inputs = run_derived(Recorder(), store.get(edit_id), edit_dir, RenderControls(cancel=threading.Event()))
    assert np.array_equal(np.asarray(inputs.control), np.asarray(Image.open(io.BytesIO(control)).convert("RGB")))


# --------------------------------------------------------------------------- the chain (tiny models)
@pytest.fixture(scope="module")
def tiny_service(tmp_path_factory, tiny_models_dir):
    home = tmp_path_factory.mktemp("edits-home")
    service = build_service(make_settings(home, tiny_models_dir))
    rng = np.random.default_rng(2)
    for title, tags in [("Starry swirls", ["night sky", "swirling"]), ("Gold leaf", ["gold", "ornamental"])]:
        pixels = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
        service.library.add_image(Image.fromarray(pixels), StyleMeta(title=title, tags=tags))
    return service


def image_of(client, job: dict) -> tuple[np.ndarray, bytes]:
    data = client.get(job["urls"]["images"][0]).content
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16), data


def test_two_regions_then_an_edit_then_an_upscale_each_linked_to_its_parent(harness, tiny_service):
    client, _ = harness.client(service=tiny_service, upscale_tile=128)
    masks = [box_mask((0, 0, 47, 63)), box_mask((48, 0, 95, 63))]
    render = wait_for(
        client, post_regions(client, masks, ["ornamental gold", "swirling night sky"]).json()["id"], timeout=120
    )
    assert render["status"] == "succeeded", render
    regions = render["result"]["regions"]
    assert [r["mask_sha256"] for r in regions] == [mask_sha256(m) for m in masks]
    assert [next(h["style"]["title"] for h in r["styles"] if h["weight"]) for r in regions] == [
        "Gold leaf",
        "Starry swirls",
    ]
    # An edit: a new job linked to its parent; past the feathered band every pixel is the parent's.
    area = (30, 20, 60, 40)
    edited = wait_for(client, edit(client, render["id"], box_mask(area)).json()["id"], timeout=120)
    assert edited["status"] == "succeeded", edited
    assert (edited["kind"], edited["parent"]) == ("edit", render["id"])
    before, _ = image_of(client, render)
    after, after_png = image_of(client, edited)
    yy, xx = np.mgrid[0:H, 0:W]
    dx = np.maximum(np.maximum(area[0] - xx, xx - area[2]), 0)
    dy = np.maximum(np.maximum(area[1] - yy, yy - area[3]), 0)
    outside_band = np.hypot(dx, dy) >= FEATHER
    assert np.array_equal(before[outside_band], after[outside_band])
    assert np.abs(before - after)[area[1] : area[3] + 1, area[0] : area[2] + 1].mean() > 1  # the area changed
    recipe = read_recipe(after_png)
    assert recipe.operation["kind"] == "edit" and recipe.operation["feather_px"] == FEATHER
    assert recipe.parent.id == render["id"] and recipe.parent.recipe.regions[0].prompt == "ornamental gold"
    # An upscale x2 of the edit: 192x128, its recipe chain reaches the first render.
    big = wait_for(
        client, client.post(f"/v1/renders/{edited['id']}/upscale", data={"factor": "2"}).json()["id"], timeout=180
    )
    assert big["status"] == "succeeded", big
    assert (big["kind"], big["parent"]) == ("upscale", edited["id"])
    pixels, big_png = image_of(client, big)
    assert pixels.shape == (2 * H, 2 * W, 3)
    chain = read_recipe(big_png)
    assert chain.operation["factor"] == 2 and chain.parent.id == edited["id"]
    assert chain.parent.recipe.parent.id == render["id"]
    history = {j["id"]: j["parent"] for j in client.get("/v1/renders").json()["items"]}
    assert history == {render["id"]: None, edited["id"]: render["id"], big["id"]: edited["id"]}
