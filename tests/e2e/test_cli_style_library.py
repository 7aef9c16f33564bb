"""The curated style library from the command line (tiny models): licence classes, commercial_only
on search and render, the attribution a render carries, private styles."""

from __future__ import annotations

import json

import pytest
from e2e.test_cli import SKETCH, one_line_error, run
from PIL import Image

from sketch2render.render import read_recipe
from sketch2render.render.outputs import CREDIT_KEY
from sketch2render.sketch import imaging


@pytest.fixture
def env(tmp_path, tiny_models_dir) -> dict[str, str]:
    home = str(tmp_path / "home")
    return {"S2R_HOME": home, "S2R_MODELS": str(tiny_models_dir), "S2R_DEVICE": "cpu", "S2R_BUNDLED_STYLES": "false"}


def add(env, tmp_path, colour, title, *extra):
    picture = tmp_path / f"{title}.png"
    Image.new("RGB", (64, 48), colour).save(picture)
    result = run(env, "styles", "add", str(picture), "--title", title, *extra, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]


def test_licences_bind_search_and_render(env, tmp_path):
    nc = add(env, tmp_path, (212, 175, 55), "Gold leaf", "--tags", "gold", "--license", "CC BY-NC 4.0")
    free = add(env, tmp_path, (200, 170, 60), "Gold dust", "--tags", "gold", "--license", "CC BY 4.0", "--creator", "A")
    assert (nc["license_id"], nc["license_class"]) == ("CC-BY-NC-4.0", "non-commercial")
    listing = run(env, "styles", "list").stdout
    assert "CC-BY-NC-4.0: non-commercial" in listing and "CC-BY-4.0: commercial-credit" in listing
    every = json.loads(run(env, "styles", "search", "gold", "--k", "5", "--json").stdout)
    assert {h["id"] for h in every} == {nc["id"], free["id"]}
    kept = json.loads(run(env, "styles", "search", "gold", "--k", "5", "--commercial-only", "--json").stdout)
    assert [(h["id"], h["license_class"]) for h in kept] == [(free["id"], "commercial-credit")]
    base = ["render", str(SKETCH), "-p", "gold", "--seed", "1", "--steps", "1", "--size", "64"]
    error = one_line_error(run(env, *base, "--style", nc["id"], "--commercial-only"))
    assert nc["id"] in error and "CC-BY-NC-4.0" in error
    out = tmp_path / "out.png"
    result = run(env, *base, "--commercial-only", "--blend", "--out", str(out))
    assert result.exit_code == 0, result.output
    recipe = read_recipe(out.read_bytes())
    assert [c.id for c in recipe.attribution] == [free["id"]] and recipe.params.commercial_only
    assert imaging.read_png_text(out.read_bytes())[CREDIT_KEY] == "“Gold dust” by A (CC BY 4.0)"
    assert "credit: “Gold dust” by A (CC BY 4.0)" in result.output


def test_visibility_is_checked(env, tmp_path):
    mine = add(env, tmp_path, "red", "Red", "--visibility", "private")
    assert mine["visibility"] == "private" and mine["owner"] == "anonymous"
    picture = tmp_path / "x.png"
    Image.new("RGB", (8, 8), "blue").save(picture)
    assert "visibility" in one_line_error(run(env, "styles", "add", str(picture), "--visibility", "secret"))
