"""`sketch2render styles feedback` as a user runs it: a correction changes `styles search` (which
says why), export -> reset -> import restores it, and bad input is one line with exit code 1."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from sketch2render.cli import app


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


def test_a_correction_moves_search_and_survives_export_reset_import(env, tmp_path):
    ids = {}
    for title, colour in [("Gold leaf", (212, 175, 55)), ("Night harbour", (10, 20, 80))]:
        picture = tmp_path / f"{title}.png"
        Image.new("RGB", (64, 48), colour).save(picture)
        ids[title] = json.loads(run(env, "styles", "add", str(picture), "--title", title, "--json").stdout)[0]["id"]
    search = ["styles", "search", "gold harbour at dusk", "--json"]
    before = json.loads(run(env, *search).stdout)
    ranking = [h["title"] for h in before]
    assert ranking[0] == "Gold leaf" or ranking[0] == "Night harbour"
    other = "Night harbour" if ranking[0] == "Gold leaf" else "Gold leaf"
    done = run(env, "styles", "feedback", "--prompt", "gold harbour at dusk", "--chosen", ids[other], "--json")
    assert done.exit_code == 0 and json.loads(done.stdout)["principal"] == "anonymous"
    after = json.loads(run(env, *search).stdout)
    assert after[0]["title"] == other and after[0]["explain"][0].startswith("feedback: +")
    text = run(env, "styles", "search", "gold harbour at dusk")
    assert "chosen 1× for similar prompts" in text.stdout
    exported = tmp_path / "signals.jsonl"
    assert "exported 1" in run(env, "styles", "feedback", "--export", str(exported)).stdout
    assert "removed 1" in run(env, "styles", "feedback", "--reset").stdout
    assert [h["title"] for h in json.loads(run(env, *search).stdout)] == ranking
    assert "imported 1" in run(env, "styles", "feedback", "--import", str(exported)).stdout
    assert json.loads(run(env, *search).stdout) == after


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "x"], "--prompt needs --chosen ID or --rejected ID"),
        (["--chosen", "abcdef0123456789"], "--prompt: the prompt the style is (not) right for is missing"),
        (["--prompt", "x", "--chosen", "../etc"], "--chosen: '../etc' is not a style id"),
        (["--reset", "--export", "f"], "give one of"),
        (["--import", "/no/such/file"], "--import: no such file /no/such/file"),
    ],
)
def test_bad_feedback_input_is_one_line(env, args, message):
    result = run(env, "styles", "feedback", *args)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1 and message in errors[0], result.output
