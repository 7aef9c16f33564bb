"""The main CLI commands as a user runs them, on the tiny models: each does what it says, prints
what it promises (table or --json) and refuses bad input in one line with a non-zero exit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sketch2render.cli import app
from sketch2render.render import read_recipe

DATA = Path(__file__).parents[2] / "src" / "sketch2render" / "data"
SKETCH = DATA / "sketches" / "chiriqui_fig76_vase.png"


@pytest.fixture
def env(tmp_path, tiny_models_dir) -> dict[str, str]:
    return {
        "S2R_HOME": str(tmp_path / "home"),
        "S2R_MODELS": str(tiny_models_dir),
        "S2R_DEVICE": "cpu",
        "S2R_BUNDLED_STYLES": "false",
    }


def run(env, *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def one_line_error(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.startswith("error:")]
    assert result.exit_code != 0 and len(lines) == 1, result.output
    return lines[0]


def test_styles_add_list_search_remove_and_import_defaults(env, tmp_path):
    picture = tmp_path / "gold.png"
    Image.new("RGB", (64, 48), (212, 175, 55)).save(picture)
    added = run(env, "styles", "add", str(picture), "--title", "Gold leaf", "--tags", "gold,ornamental", "--json")
    assert added.exit_code == 0, added.output
    (record,) = json.loads(added.stdout)
    assert record["created"] and record["title"] == "Gold leaf" and record["tags"] == ["gold", "ornamental"]
    again = json.loads(run(env, "styles", "add", str(picture), "--json").stdout)
    assert again[0]["id"] == record["id"] and not again[0]["created"]  # same content, same id

    listed = json.loads(run(env, "styles", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [record["id"]]
    hits = json.loads(run(env, "styles", "search", "ornamental gold", "--k", "3", "--json").stdout)
    assert hits[0]["id"] == record["id"] and hits[0]["lexical"] > 0

    imported = json.loads(run(env, "styles", "import-defaults", "--json").stdout)
    assert imported["added"] == 21 and imported["total"] == 22
    assert json.loads(run(env, "styles", "import-defaults", "--json").stdout)["added"] == 0  # idempotent

    removed = json.loads(run(env, "styles", "remove", record["id"], "--json").stdout)
    assert removed == {"removed": record["id"], "title": "Gold leaf"}
    assert record["id"] not in {
        r["id"] for r in json.loads(run(env, "styles", "list", "--limit", "100", "--json").stdout)
    }
    assert "no style" in one_line_error(run(env, "styles", "remove", record["id"]))
    assert "not a raster image" in one_line_error(run(env, "styles", "add", str(Path(__file__))))  # a text file


def test_render_writes_the_png_with_its_recipe_the_control_image_and_the_sidecar(env, tmp_path):
    out = tmp_path / "out" / "vase.png"
    args = ["render", str(SKETCH), "-p", "a vase, ink", "--seed", "5", "--steps", "2", "--size", "64"]
    result = run(env, *args, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["images"] == [str(out)] and Path(body["control"]).name == "vase.control.png"
    recipe = read_recipe(out.read_bytes())
    assert recipe.seed == 5 and recipe.params.steps == 2 and max(recipe.width, recipe.height) == 64
    assert json.loads(Path(body["recipe_path"]).read_text())["seed"] == 5
    again = tmp_path / "again.png"
    run(env, *args, "--out", str(again))
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))  # the seed reproduces
    assert "size" in one_line_error(run(env, "render", str(SKETCH), "-p", "x", "--size", "65"))
    assert "no such file" in one_line_error(run(env, "render", str(tmp_path / "nope.png"), "-p", "x"))


def test_models_build_tiny_and_info(env, tmp_path, tiny_models_dir):
    built = run(env, "models", "build-tiny", str(tmp_path / "tiny"))
    assert built.exit_code == 0 and Path(built.stdout.strip()) == tmp_path / "tiny"
    assert (tmp_path / "tiny" / "s2r-models.json").exists() and (tmp_path / "tiny" / "controlnet-lineart").is_dir()
    info = json.loads(run(env, "models", "info", "--json").stdout)
    assert info["profile"] == "tiny" and info["smoke_test"] is True
    assert all(component["exists"] for component in info["components"].values())
    table = run(env, "models", "info")
    assert table.exit_code == 0 and "Real-weights assets" in table.output and "✗" in table.output
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    shutil.copy(SKETCH, occupied / "not-models.png")
    assert "not a model folder" in one_line_error(run(env, "models", "build-tiny", str(occupied)))


def test_a_new_data_folder_starts_with_the_bundled_styles_once(env):
    fresh = {**env, "S2R_BUNDLED_STYLES": "true"}
    listed = json.loads(run(fresh, "styles", "list", "--limit", "100", "--json").stdout)
    assert len(listed) == 21 and all(r["license"] for r in listed)  # with their licenses
    for record in listed[:20]:
        run(fresh, "styles", "remove", record["id"])
    assert len(json.loads(run(fresh, "styles", "list", "--json").stdout)) == 1  # not re-imported


def test_a_mistyped_setting_is_named_with_the_nearest_real_one(env):
    result = run({**env, "S2R_MODEL": "sd15"}, "models", "info", "--json")
    assert "S2R_MODEL (did you mean S2R_MODELS?) is not a sketch2render setting" in result.output
    from sketch2render.config import unknown_settings

    assert unknown_settings({"S2R_HOME": "/x", "S2R_FUZZ_SECONDS": "5", "S2R_QUEUE_MAXX": "3"}) == [
        "S2R_QUEUE_MAXX (did you mean S2R_QUEUE_MAX?)"
    ]
