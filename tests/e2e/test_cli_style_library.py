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


def test_collections_bind_search_and_render(env, tmp_path):
    gold = add(env, tmp_path, (212, 175, 55), "Gold leaf", "--tags", "gold")
    dust = add(env, tmp_path, (200, 170, 60), "Gold dust", "--tags", "gold")
    created = run(env, "collections", "create", "gilded", gold["id"], "--json")
    assert created.exit_code == 0, created.output
    assert [s["id"] for s in json.loads(created.stdout)["styles"]] == [gold["id"]]
    assert "gilded" in run(env, "collections", "list").stdout
    hits = json.loads(run(env, "styles", "search", "gold", "--k", "5", "--collection", "gilded", "--json").stdout)
    assert [h["id"] for h in hits] == [gold["id"]]
    out = tmp_path / "c.png"
    base = ["render", str(SKETCH), "-p", "gold", "--seed", "1", "--steps", "1", "--size", "64", "--blend"]
    result = run(env, *base, "--collection", "gilded", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [h.id for h in read_recipe(out.read_bytes()).styles] == [gold["id"]]
    added = json.loads(run(env, "collections", "add", "gilded", dust["id"], "--json").stdout)
    assert [s["id"] for s in added["styles"]] == [gold["id"], dust["id"]]
    removed = json.loads(run(env, "collections", "remove", "gilded", gold["id"], "--json").stdout)
    assert [s["id"] for s in removed["styles"]] == [dust["id"]]
    assert "gilded" in run(env, "collections", "show", "gilded").stdout
    assert "no collection" in one_line_error(run(env, *base, "--collection", "nope"))
    assert "exists already" in one_line_error(run(env, "collections", "create", "gilded"))
    assert "no style" in one_line_error(run(env, "collections", "add", "gilded", "abc123"))
    assert run(env, "collections", "delete", "gilded").exit_code == 0
    assert "no collection" in one_line_error(run(env, "collections", "show", "gilded"))


def test_a_near_duplicate_is_reported_unless_allowed(env, tmp_path):
    from PIL import ImageDraw

    picture = Image.new("RGB", (96, 64), (30, 60, 120))
    ImageDraw.Draw(picture).ellipse((10, 8, 70, 56), fill=(240, 200, 40))
    picture.save(tmp_path / "a.png")
    picture.resize((72, 48)).save(tmp_path / "b.jpg", quality=70)
    (first,) = json.loads(run(env, "styles", "add", str(tmp_path / "a.png"), "--json").stdout)
    (near,) = json.loads(run(env, "styles", "add", str(tmp_path / "b.jpg"), "--json").stdout)
    assert not near["created"] and near["id"] == near["near_duplicate_of"] == first["id"]
    assert "near duplicate of" in run(env, "styles", "add", str(tmp_path / "b.jpg")).stdout
    (forced,) = json.loads(
        run(env, "styles", "add", str(tmp_path / "b.jpg"), "--allow-near-duplicate", "--json").stdout
    )
    assert forced["created"] and forced["id"] != first["id"]
