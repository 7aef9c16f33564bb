"""`sketch2render models download --profile sdxl` against the local stand-in hub (tests/hub.py)
serving the tiny-sdxl folder under the sdxl profile's real repo ids: the files fetched are exactly
those the SDXL loaders read, `models info` lists them with their licences, the sdxl profile then
resolves from the filled cache, and a render through `build_service` uses them (tiny weights under
real ids). The download runs as a user runs it: `python -m sketch2render …` in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import make_settings
from hub import Hub, hub_env, sdxl_hub, sdxl_repos

from sketch2render.models.assets_sdxl import LICENCES, SDXL_REPOS

pytestmark = pytest.mark.slow  # builds tiny-sdxl, downloads it, renders with it

BASE = SDXL_REPOS["sdxl_base"]
RENDER = """
import json
import numpy as np
from PIL import Image
from sketch2render.config import Settings
from sketch2render.render.service import build_service
from sketch2render.schemas import RenderParams

service = build_service(Settings())
sketch = Image.new("RGB", (96, 64), "white")
sketch.paste((0, 0, 0), (10, 10, 80, 13))
out = {}
for speed in ("quality", "live"):
    result = service.render(sketch, RenderParams(prompt="a vase", steps=2, size=64, seed=3, speed=speed))
    pixels = np.asarray(result.images[0], dtype=np.float32)
    out[speed] = {
        "family": result.recipe.family,
        "base": result.recipe.models["base"],
        "smoke_test": result.recipe.smoke_test,
        "lora": result.recipe.speed.lora,
        "finite": bool(np.isfinite(pixels).all()),
        "std": float(pixels.std()),
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def tiny_sdxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sketch2render.models import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture
def hub(tiny_sdxl_dir: Path):
    server = sdxl_hub(tiny_sdxl_dir)
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, hub: Hub) -> dict[str, str]:
    return hub_env(tmp_path, hub, "sdxl", dict(os.environ))


def cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sketch2render", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_download_sdxl_then_info_resolve_and_a_render_from_the_cache(env, hub, tiny_sdxl_dir, tmp_path, monkeypatch):
    # 1. Without the weights the sdxl profile says how to get them.
    monkeypatch.setenv("HF_HUB_CACHE", env["HF_HUB_CACHE"])
    from sketch2render.errors import ModelsUnavailable
    from sketch2render.models import resolve_models

    settings = make_settings(tmp_path / "home", "sdxl")
    with pytest.raises(ModelsUnavailable, match="models download --profile sdxl"):
        resolve_models(settings, profile="sdxl")

    # 2. Download the required assets and the speed presets' (by feature name): exactly the loaders' files.
    done = cli("models", "download", "--profile", "sdxl", "--with", "fast,live", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["profile"] == "sdxl" and summary["fetched"] and summary["to_fetch"] == summary["files"]
    repos = sdxl_repos()
    assert {item["repo"] for item in summary["items"]} == set(repos)  # lightning + taesdxl too, nothing else
    for item in summary["items"]:  # byte-identical to what the hub serves
        cached = next((tmp_path / "hf-cache").glob(f"models--{item['repo'].replace('/', '--')}/snapshots/*"))
        served = tiny_sdxl_dir / repos[item["repo"]] / item["file"]
        assert (cached / item["file"]).read_bytes() == served.read_bytes()
    names = [item["file"] for item in summary["items"]]
    assert all(name.endswith((".safetensors", ".json", ".txt")) for name in names)
    assert not any(name.startswith("vae/") for name in names)  # base/vae: the fp16-fix VAE replaces it
    assert sum(name.endswith(".safetensors") for name in names) == 10

    # 3. `models info` lists every asset present, with its licence and files.
    info = cli("models", "info", "--profile", "sdxl", "--json", env=env)
    assert info.returncode == 0, info.stderr
    listed = json.loads(info.stdout)
    assert listed["profile"] == "sdxl" and listed["family"] == "sdxl"
    rows = {row["asset"]: row for row in listed["assets"]}
    assert all(row["present"] and row["bytes"] > 0 for row in rows.values())
    assert {name: row["licence"] for name, row in rows.items()} == LICENCES
    assert (
        rows["sdxl_base"]["repo"] == BASE and "unet/diffusion_pytorch_model.safetensors" in rows["sdxl_base"]["files"]
    )

    # 4. The sdxl profile resolves from the filled cache (the hub is gone) and renders.
    hub.stop()
    models = resolve_models(settings, profile="sdxl")
    assert models.family == "sdxl" and models.base == BASE and models.vae == SDXL_REPOS["sdxl_vae"]
    assert models.speed_available("fast") and models.speed_available("live") and not models.smoke_test

    # huggingface_hub reads HF_HUB_CACHE once, at import: the render runs in a fresh process, as a server would.
    rendered = subprocess.run([sys.executable, "-c", RENDER], env=env, capture_output=True, text=True, timeout=300)
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    for speed, record in json.loads(rendered.stdout.strip().splitlines()[-1]).items():
        assert record["family"] == "sdxl" and record["base"] == BASE and not record["smoke_test"], speed
        assert record["finite"] and record["std"] > 0, speed  # tiny weights: noise, but a picture
    assert record["lora"] == SDXL_REPOS["lightning_lora"]


def test_the_stand_in_profiles_have_nothing_to_download(env):
    for profile in ("tiny-sdxl", "sdxl-random"):
        done = cli("models", "download", "--profile", profile, env=env)
        assert done.returncode == 1 and "built locally" in done.stderr, done.stderr


def test_several_profiles_each_get_their_info(env):
    """S2R_MODELS=tiny-sdxl,tiny: one entry per family; the top-level keys stay the first profile's."""
    done = cli("models", "info", "--json", env={**env, "S2R_MODELS": "tiny-sdxl,tiny"})
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert [(f["requested"], f["family"]) for f in info["families"]] == [("tiny-sdxl", "sdxl"), ("tiny", "sd15")]
    assert info["profile"] == "tiny-sdxl" and info["family"] == "sdxl"
    assert info["assets"] == info["families"][0]["assets"] and info["assets"][0]["asset"] == "sdxl_base"
    assert info["families"][1]["assets"][0]["asset"] == "base"


def test_fp16_asks_for_the_base_fp16_copies_and_falls_back_where_there_are_none(env, hub):
    plan = cli("models", "download", "--profile", "sdxl", "--variant", "fp16", "--dry-run", "--json", env=env)

    assert plan.returncode == 0, plan.stderr
    summary = json.loads(plan.stdout)
    asked = [path for method, path, _ in hub.requests if method == "HEAD"]
    for weight in ("unet/diffusion_pytorch_model", "text_encoder/model", "text_encoder_2/model"):
        assert any(path.endswith(f"{BASE}/resolve/main/{weight}.fp16.safetensors") for path in asked), weight
        fetched = {(item["repo"], item["file"]) for item in summary["items"]}
        assert (BASE, f"{weight}.safetensors") in fetched  # the stand-in hub has no fp16 copies: the full weights
    assert summary["variant"] == "fp16" and summary["fetched"] is False
    assert not any(method == "GET" for method, _, _ in hub.requests)


def test_a_local_sdxl_base_is_used_where_it_lies(env, hub, tiny_sdxl_dir):
    """S2R_SDXL_BASE=folder: nothing of the base is fetched; the rest still comes from the hub."""
    local = {**env, "S2R_SDXL_BASE": str(tiny_sdxl_dir / "base")}
    plan = json.loads(cli("models", "download", "--profile", "sdxl", "--dry-run", "--json", env=local).stdout)

    assert plan["local_assets"] == ["sdxl_base"]
    assert BASE not in {item["repo"] for item in plan["items"]} and plan["to_fetch"] == plan["files"] > 0
