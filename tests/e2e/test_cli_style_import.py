"""`sketch2render styles import` on the tiny models: a folder or a zip with metadata, a per-file report,
re-runs that finish what was left, and a `kill -9` half-way that leaves a consistent library."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from e2e.test_cli import run
from PIL import Image
from waiting import eventually


@pytest.fixture
def env(tmp_path, tiny_models_dir) -> dict[str, str]:
    home = str(tmp_path / "home")
    return {"S2R_HOME": home, "S2R_MODELS": str(tiny_models_dir), "S2R_DEVICE": "cpu", "S2R_BUNDLED_STYLES": "false"}


def picture(seed: int) -> Image.Image:
    """A small picture with structure, different for every seed."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).resize((96, 72), Image.Resampling.NEAREST)


def folder(tmp_path: Path, count: int) -> Path:
    root = tmp_path / "refs"
    (root / "sub").mkdir(parents=True)
    for i in range(count):
        picture(i).save(root / ("sub" if i % 2 else "") / f"ref_{i:03d}.png")
    return root


def test_import_a_folder_with_metadata_into_a_collection_then_again(env, tmp_path):
    root = folder(tmp_path, 3)
    (root / "notes.png").write_text("not an image")
    picture(0).resize((72, 54)).save(root / "zz_copy.jpg", quality=80)  # a near duplicate of ref_000, after it
    meta = tmp_path / "meta.csv"
    rows = ['ref_000.png,Zero,"a;b",CC BY-NC 4.0,Ann', "sub/ref_001.png,One,,,"]
    meta.write_text("\n".join(["file,title,tags,license,creator", *rows]) + "\n")
    assert run(env, "collections", "create", "refs").exit_code == 0
    args = ["styles", "import", str(root), "--metadata", str(meta), "--license", "CC0", "--collection", "refs"]
    first = run(env, *args, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    by_file = {f["file"]: f for f in report["files"]}
    assert (report["added"], report["existed"], report["near_duplicate"], report["refused"]) == (3, 0, 1, 1)
    assert by_file["zz_copy.jpg"]["near_duplicate_of"] == by_file["ref_000.png"]["id"]
    assert "not a raster image" in by_file["notes.png"]["reason"]
    styles = {s["title"]: s for s in json.loads(run(env, "styles", "list", "--json").stdout)}
    assert styles["Zero"]["tags"] == ["a", "b"] and styles["Zero"]["license_id"] == "CC-BY-NC-4.0"
    assert styles["ref 002"]["license_id"] == "CC0-1.0"  # the default licence, the title from the name
    shown = json.loads(run(env, "collections", "show", "refs", "--json").stdout)
    assert shown["count"] == 3
    again = json.loads(run(env, *args, "--json").stdout)
    assert (again["added"], again["existed"]) == (0, 3)
    assert "no collection" in run(env, "styles", "import", str(root), "--collection", "nope").output


def test_a_zip_imports_the_same(env, tmp_path):
    archive = tmp_path / "refs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(2):
            path = tmp_path / f"z{i}.png"
            picture(10 + i).save(path)
            z.write(path, f"folder/z{i}.png")
        z.writestr("__MACOSX/folder/._z0.png", b"junk")
    report = json.loads(run(env, "styles", "import", str(archive), "--json").stdout)
    assert report["added"] == 2 and [f["file"] for f in report["files"]] == ["folder/z0.png", "folder/z1.png"]
    assert "neither a folder nor a zip" in run(env, "styles", "import", str(Path(__file__))).output


def test_kill_9_half_way_leaves_a_consistent_library_and_the_rerun_finishes(env, tmp_path):
    root = folder(tmp_path, 40)
    images = Path(env["S2R_HOME"]) / "styles" / "images"
    command = [sys.executable, "-m", "sketch2render", "styles", "import", str(root)]
    proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: images.is_dir() and len(list(images.glob("*.json"))) >= 3, 120, 0.01, what="3 styles added")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = len(list(images.glob("*.json")))
    assert done < 40, "the import finished before it was killed: nothing was tested"
    report = json.loads(run(env, "styles", "import", str(root), "--json").stdout)
    assert report["added"] + report["existed"] == 40 and report["existed"] >= done - 1
    listed = json.loads(run(env, "styles", "list", "--limit", "100", "--json").stdout)
    assert len(listed) == 40
    assert {p.stem for p in images.glob("*.png")} == {p.stem for p in images.glob("*.json")}  # no half-added style
