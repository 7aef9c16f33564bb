"""A replica's renderer in process (no cluster), on the tiny models: a render, an edit and an upscale run
from what their jobs brought alone: no search, no style library, nothing read from or written to the
data folder; the style embedding it computed is handed back for the API to keep, and what it keeps of a
style (by id) serves the next job."""

from __future__ import annotations

import threading

import pytest
from builders import make_settings
from PIL import Image, ImageDraw

from sketch2render import errors
from sketch2render.render.inpaint import EditInputs, edit_params
from sketch2render.render.outputs import encode_render, read_recipe
from sketch2render.render.ports import RenderControls
from sketch2render.render.stages import Retrieved
from sketch2render.render.upscale import UpscaleInputs
from sketch2render.scale.replica_jobs import EditJob, RenderJob, ShippedStyle, UpscaleJob
from sketch2render.scale.replica_renderer import ReplicaRenderer
from sketch2render.schemas import RenderParams, StyleHit, StyleRecord
from sketch2render.sketch.imaging import encode_png
from sketch2render.styles.ids import content_id

pytestmark = pytest.mark.slow  # renders with the tiny models


def sketch() -> bytes:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle((8, 8, 56, 56), outline="black", width=2)
    return encode_png(image)


def test_a_replica_renders_edits_and_upscales_from_what_its_jobs_brought(tmp_path, tiny_models_dir):
    home = tmp_path / "api-home"  # never created: a replica has no business in the data folder
    replica = ReplicaRenderer.build(make_settings(home, tiny_models_dir))
    style_image = Image.new("RGB", (48, 32), (227, 66, 52))
    red = StyleRecord(id=content_id(style_image), title="Red poster", width=48, height=32, added_at=0.0)
    blue = red.model_copy(update={"id": "b" * 16, "title": "Blue poster"})
    retrieved = Retrieved([StyleHit(style=red, score=1.0, lexical=1.0), StyleHit(style=blue, score=0.1)], False, 0.01)
    styles = (ShippedStyle(red, encode_png(style_image)),)  # Blue is a hit the selection will not use: not sent
    steps: list[tuple[int, int]] = []
    controls = RenderControls(lambda step, total: steps.append((step, total)), threading.Event())

    params = RenderParams(prompt="a red poster", steps=2, size=64, seed=3)
    rendered = replica.run(RenderJob(sketch(), params, (), retrieved, styles), controls)
    recipe = rendered.result.recipe
    assert [(h.id, h.weight) for h in recipe.styles] == [(red.id, 1.0), (blue.id, None)]
    assert recipe.timings.retrieval == 0.01 and steps[-1] == (2, 2)  # retrieval: the API's, not here
    assert [(e.style_id, e.encoder_key) for e in rendered.computed] == [
        (red.id, replica.families.get(None).renderer.encoder_key)
    ]

    parent = encode_render(rendered.result)
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 47, 47), fill=255)
    inputs = EditInputs(
        parent_png=parent.images[0],
        control=rendered.result.control_image,
        mask=encode_png(mask),
        params=edit_params(recipe.params, {"prompt": "a red poster"}),
        feather=4,
    )
    edited = replica.run(EditJob(inputs, retrieved, styles), controls).result
    assert edited.recipe.operation["kind"] == "edit" and [h.weight for h in edited.recipe.styles] == [1.0, None]
    assert edited.images[0].getpixel((0, 0)) == rendered.result.images[0].getpixel((0, 0))  # outside: the parent's

    upscale = UpscaleInputs(parent_png=encode_render(edited).images[0], factor=2, tile=64, overlap=8)
    big = replica.run(UpscaleJob(upscale, styles), controls).result
    assert big.images[0].size == (128, 128) and big.recipe.operation["tiles"] == 9
    assert read_recipe(parent.images[0]).seed == 3
    assert not home.exists()

    # A style seen before is served from what the replica keeps by its id: no image needed, nothing computed.
    again = replica.run(RenderJob(sketch(), params, (), retrieved, ()), controls)
    assert again.computed == [] and [h.weight for h in again.result.recipe.styles] == [1.0, None]
    # A style never seen, whose image did not come with the job: the replica looks nowhere else.
    green = StyleHit(style=red.model_copy(update={"id": "c" * 16, "title": "Green poster"}), score=1.0, lexical=1.0)
    with pytest.raises(errors.NotFound, match="did not come with this job"):
        replica.run(RenderJob(sketch(), params, (), Retrieved([green], False, 0.0), ()), controls)
