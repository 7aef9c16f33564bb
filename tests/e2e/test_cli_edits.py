"""The workflow from the README on the tiny models, from the command line: render with two
regions -> edit one area -> upscale x2; each PNG carries its recipe and its parent's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from sketch2render.cli import app
from sketch2render.render import read_recipe


@pytest.fixture
def env(tmp_path, tiny_models_dir) -> dict[str, str]:
    return {
        "S2R_HOME": str(tmp_path / "home"),
        "S2R_MODELS": str(tiny_models_dir),
        "S2R_DEVICE": "cpu",
        "S2R_BUNDLED_STYLES": "false",
        "S2R_UPSCALE_TILE": "128",
    }


def run(env, *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def test_render_with_two_regions_then_edit_then_upscale(env, tmp_path):
    for title, tags, colour in [("Gold leaf", "gold,ornamental", (212, 175, 55)), ("Night", "night,sky", (20, 30, 90))]:
        Image.new("RGB", (64, 48), colour).save(tmp_path / f"{title}.png")
        assert (
            run(env, "styles", "add", str(tmp_path / f"{title}.png"), "--title", title, "--tags", tags).exit_code == 0
        )
    sketch = Image.new("RGB", (96, 64), "white")
    ImageDraw.Draw(sketch).rectangle((10, 10, 80, 50), outline="black", width=2)
    sketch.save(tmp_path / "box.png")
    for name, box in [("left", (0, 0, 47, 63)), ("right", (48, 0, 95, 63)), ("area", (30, 20, 60, 40))]:
        mask = Image.new("L", (96, 64), 0)
        ImageDraw.Draw(mask).rectangle(box, fill=255)
        mask.save(tmp_path / f"{name}.png")
    out = tmp_path / "out" / "box.png"
    common = ["--steps", "2", "--size", "96", "--seed", "4"]
    regions = [
        "--region",
        f"{tmp_path / 'left.png'}=gold ornamental",
        "--region",
        f"{tmp_path / 'right.png'}=night sky",
    ]
    rendered = run(env, "render", str(tmp_path / "box.png"), "-p", "a box", *common, *regions, "-o", str(out))
    assert rendered.exit_code == 0, rendered.output
    assert "region 'gold ornamental': Gold leaf" in rendered.output and "region 'night sky': Night" in rendered.output
    assert (tmp_path / "out" / "box.control.png").is_file()  # what the edit below finds beside the render

    edited = run(env, "edit", str(out), "--mask", str(tmp_path / "area.png"), "-p", "a gold box", "--json")
    assert edited.exit_code == 0, edited.output
    edit_png = tmp_path / "out" / "box-edit.png"
    assert json.loads(edited.stdout)["images"] == [str(edit_png)]
    before, after = (np.asarray(Image.open(p).convert("RGB")) for p in (out, edit_png))
    assert np.array_equal(before[:, :20], after[:, :20]) and not np.array_equal(before, after)

    upscaled = run(env, "upscale", str(edit_png), "--factor", "2")
    assert upscaled.exit_code == 0, upscaled.output
    big = tmp_path / "out" / "box-edit-x2.png"
    assert Image.open(big).size == (192, 128)
    chain = read_recipe(big.read_bytes())
    assert chain.operation["kind"] == "upscale" and chain.parent.recipe.operation["kind"] == "edit"
    assert [r.prompt for r in chain.parent.recipe.parent.recipe.regions] == ["gold ornamental", "night sky"]

    refused = run(env, "upscale", str(edit_png), "--factor", "3")
    assert refused.exit_code != 0 and "factor: must be 2 or 4" in refused.output
    bad = run(env, "render", str(tmp_path / "box.png"), "-p", "x", "--region", "no-equals-sign")
    assert bad.exit_code != 0 and 'MASK.png="prompt"' in bad.output


def test_edit_finds_the_control_image_beside_the_render_under_the_new_or_the_old_name(tmp_path):
    from sketch2render.cli.edit import _control_beside

    assert _control_beside(tmp_path / "vase.png") == tmp_path / "vase.control.png"  # neither: the new name
    (tmp_path / "vase.edges.png").write_bytes(b"")  # written before the rename
    assert _control_beside(tmp_path / "vase.png") == tmp_path / "vase.edges.png"
    assert _control_beside(tmp_path / "vase-2.png") == tmp_path / "vase.edges.png"  # one of several images
    (tmp_path / "vase.control.png").write_bytes(b"")
    assert _control_beside(tmp_path / "vase-2.png") == tmp_path / "vase.control.png"
    (tmp_path / "vase-2.control.png").write_bytes(b"")  # a render of its own (an edit's output)
    assert _control_beside(tmp_path / "vase-2.png") == tmp_path / "vase-2.control.png"
