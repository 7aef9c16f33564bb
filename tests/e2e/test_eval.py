"""`sketch2render eval` end to end on the tiny models: 2 sketches × 2 prompts -> CSV, thumbnails, HTML."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sketch2render.cli import app
from sketch2render.errors import InvalidParameter
from sketch2render.evaluation.renders import grid_control_types, list_sketches, parse_grid, read_prompts

SKETCHES = Path(__file__).parents[2] / "src" / "sketch2render" / "data" / "sketches"
METRIC_COLUMNS = (
    "structure_precision", "structure_recall", "structure_f1", "structure_chamfer_px", "structure_chamfer_norm",
    "style_similarity", "prompt_alignment", "time_denoise", "time_scores", "time_total",
)  # fmt: skip


@pytest.fixture
def env(tmp_path, tiny_models_dir) -> dict[str, str]:
    return {"S2R_HOME": str(tmp_path / "home"), "S2R_MODELS": str(tiny_models_dir), "S2R_DEVICE": "cpu"}


@pytest.fixture
def inputs(tmp_path) -> tuple[Path, Path]:
    sketches = tmp_path / "sketches"
    sketches.mkdir()
    for name in ("chiriqui_fig76_vase.png", "sa1885_iron_gate.png"):
        shutil.copy(SKETCHES / name, sketches / name)
    prompts = tmp_path / "prompts.txt"
    # Words from the bundled styles' titles: with the tiny (meaningless) CLIP, retrieval runs on words.
    prompts.write_text("# two prompts\na vase in the style of the great wave\n\nstarry night\n")
    return sketches, prompts


def test_eval_writes_csv_thumbnails_and_report(env, inputs, tmp_path):
    sketches, prompts = inputs
    out = tmp_path / "out"
    args = ["eval", "--sketches", str(sketches), "--prompts", str(prompts), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--steps", "2", "--size", "64", "--seed", "3", "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["renders"] == 4 and summary["errors"] == 0 and len(summary["summary"]) == 1

    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert {(r["sketch"], r["prompt"]) for r in rows} == {
        (s, p)
        for s in ("chiriqui_fig76_vase.png", "sa1885_iron_gate.png")
        for p in ("a vase in the style of the great wave", "starry night")
    }
    for row in rows:
        for column in METRIC_COLUMNS:
            assert row[column] != "", column
            float(row[column])
        assert 0.0 <= float(row["structure_f1"]) <= 1.0
        assert row["seed"] == "3" and row["style_ids"] and not row["error"]
        assert (out / row["thumbnail"]).is_file() and (out / row["render"]).is_file()
    assert len({r["style_ids"] for r in rows}) == 2  # each prompt retrieved its own style

    report = (out / "report.html").read_text()
    assert "<svg" in report and "</svg>" in report
    assert "<script" not in report and "http://" not in report.replace('xmlns="http://www.w3.org/2000/svg"', "")
    referenced = set(re.findall(r"src='([^']+)'", report))
    assert {r["thumbnail"] for r in rows} <= referenced
    assert all((out / path).is_file() for path in referenced)
    assert report.count("<circle") >= 4  # one point per render (plus means and legend)


def test_eval_grid_renders_each_setting(env, inputs, tmp_path):
    sketches, prompts = inputs
    (sketches / "sa1885_iron_gate.png").unlink()
    prompts.write_text("starry night\n")
    out = tmp_path / "grid"
    args = ["eval", "--sketches", str(sketches), "--prompts", str(prompts), "--out", str(out), "--steps", "1"]
    result = CliRunner().invoke(app, [*args, "--size", "64", "--grid", "control=0.5,1.0;style=0.8"], env=env)
    assert result.exit_code == 0, result.output
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["control_strength"], r["style_strength"]) for r in rows] == [("0.5", "0.8"), ("1.0", "0.8")]
    report = (out / "report.html").read_text()
    assert "canny, control 0.5, style 0.8" in report and "canny, control 1, style 0.8" in report


def test_eval_takes_the_control_type_as_a_grid_axis(env, inputs, tmp_path):
    sketches, prompts = inputs
    (sketches / "sa1885_iron_gate.png").unlink()
    prompts.write_text("starry night\n")
    out = tmp_path / "types"
    args = ["eval", "--sketches", str(sketches), "--prompts", str(prompts), "--out", str(out), "--steps", "1"]
    grid = "type=canny,lineart;control=1.0"
    result = CliRunner().invoke(app, [*args, "--size", "64", "--grid", grid, "--json"], env=env)
    assert result.exit_code == 0, result.output
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["control_type"] for r in rows] == ["canny", "lineart"] and all(not r["error"] for r in rows)
    summary = json.loads(result.stdout)["summary"]
    assert {s["control_type"] for s in summary} == {"canny", "lineart"}
    assert "lineart, control 1, style 0.7" in (out / "report.html").read_text()
    assert grid_control_types("type=scribble,auto") == ["scribble", "auto"]
    with pytest.raises(InvalidParameter, match="control types"):
        grid_control_types("type=hed")


def test_parse_grid_is_the_cartesian_product_with_defaults():
    assert parse_grid(None) == [(1.0, 0.7)]
    assert parse_grid("control=0.5,1.0;style=0.3,0.8") == [(0.5, 0.3), (0.5, 0.8), (1.0, 0.3), (1.0, 0.8)]
    assert parse_grid(" style = 0.2 ; ") == [(1.0, 0.2)]
    with pytest.raises(InvalidParameter):
        parse_grid("control=2.5")


def test_prompts_skip_comments_and_blank_lines(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("# header\n  a red vase  \n\n#2\nissue #5 chair\n")
    assert read_prompts(path) == ["a red vase", "issue #5 chair"]


def test_sketch_listing_skips_non_images_and_our_control_images(tmp_path):
    for name in ("b.PNG", "a.jpg", "notes.txt", "x.control.png", "y.edges.png", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_sketches(tmp_path)] == ["a.jpg", "b.PNG"]


@pytest.mark.parametrize(
    ("prompts_text", "extra", "message"),
    [
        ("# only a comment\n", [], "no prompts"),
        ("a vase\n", ["--grid", "control=abc"], "not numbers"),
        ("a vase\n", ["--grid", "colour=1"], "control=A,B"),
        ("a vase\n", ["--size", "100"], "multiple of 8"),
        ("a vase\n", ["--seed", "99999999999"], "seed"),
    ],
)
def test_eval_refuses_bad_input_in_one_line(env, inputs, tmp_path, prompts_text, extra, message):
    sketches, prompts = inputs
    prompts.write_text(prompts_text)
    args = ["eval", "--sketches", str(sketches), "--prompts", str(prompts), "--out", str(tmp_path / "o"), *extra]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
