"""`--family` on the CLI, as a user runs it with two families served (tiny-sdxl first, then tiny):
the default family renders when none is named, a named one renders with its own defaults, an
unknown one is a one-line error naming `family`, and `eval --grid family=…` compares them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sketch2render.cli import app
from sketch2render.render import read_recipe

pytestmark = pytest.mark.slow  # renders with the tiny models

SKETCHES = Path(__file__).parents[2] / "src" / "sketch2render" / "data" / "sketches"
SKETCH = SKETCHES / "chiriqui_fig76_vase.png"


@pytest.fixture
def env(tmp_path, tiny_sdxl_dir, tiny_models_dir) -> dict[str, str]:
    return {
        "S2R_HOME": str(tmp_path / "home"),
        "S2R_MODELS": f"{tiny_sdxl_dir},{tiny_models_dir}",
        "S2R_DEVICE": "cpu",
        "S2R_BUNDLED_STYLES": "false",
    }


def run(env, *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def test_render_names_its_family_or_gets_the_default(env, tmp_path):
    base = ["render", str(SKETCH), "-p", "a vase, ink", "--seed", "5", "--steps", "2", "--size", "64"]
    default = run(env, *base, "--out", str(tmp_path / "default.png"), "--json")
    assert default.exit_code == 0, default.output
    assert read_recipe((tmp_path / "default.png").read_bytes()).family == "sdxl"
    named = run(env, *base, "--family", "sd15", "--out", str(tmp_path / "sd15.png"), "--json")
    assert named.exit_code == 0, named.output
    recipe = json.loads(named.stdout)["recipe"]
    assert recipe["family"] == "sd15" and recipe["params"]["guidance_scale"] == 7.5  # sd15's default


def test_an_unknown_family_is_one_line_naming_family(env):
    result = run(env, "render", str(SKETCH), "-p", "x", "--family", "sd3")
    lines = [line for line in result.output.strip().splitlines() if line.startswith("error:")]
    assert result.exit_code != 0 and len(lines) == 1 and "family" in lines[0], result.output


def test_eval_compares_families_side_by_side(env, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a vase, ink\n")
    sketches = tmp_path / "sketches"
    sketches.mkdir()
    (sketches / "vase.png").write_bytes(SKETCH.read_bytes())
    out = tmp_path / "report"
    args = ["eval", "--sketches", str(sketches), "--prompts", str(prompts), "--out", str(out)]
    result = run(env, *args, "--grid", "family=sd15,sdxl", "--steps", "2", "--size", "64", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["renders"] == 2 and body["errors"] == 0
    assert {row["family"] for row in body["summary"]} == {"sd15", "sdxl"}
    assert "sdxl" in (out / "results.csv").read_text()
