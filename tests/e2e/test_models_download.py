"""A GPU box's first hour, without the internet: `sketch2render models download` against a local
stand-in hub (tests/hub.py) serving the tiny models under the sd15 profile's real repo ids, then
`doctor`, then a render that resolves `sd15` from the cache the download filled. The commands run
as a user runs them: `python -m sketch2render …` in a child process."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hub import SD15_REPOS, Hub, hub_env, sd15_hub
from waiting import eventually

SKETCH = Path(__file__).parents[2] / "src" / "sketch2render" / "data" / "sketches" / "chiriqui_fig76_vase.png"
UNET = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture
def hub(tiny_models_dir: Path):
    server = sd15_hub(tiny_models_dir)
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, hub: Hub) -> dict[str, str]:
    return hub_env(tmp_path, hub, "auto", dict(os.environ))


def cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sketch2render", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def cached_files(cache: Path) -> dict[str, bytes]:
    """repo/file -> bytes, for every file in the hub cache's snapshots."""
    found = {}
    for repo_dir in cache.glob("models--*"):
        repo = repo_dir.name.removeprefix("models--").replace("--", "/")
        for path in repo_dir.glob("snapshots/*/**/*"):
            if path.is_file():
                found[f"{repo}/{path.relative_to(next(repo_dir.glob('snapshots/*'))).as_posix()}"] = path.read_bytes()
    return found


def test_download_doctor_then_an_offline_render_with_an_optional_controlnet(env, hub, tiny_models_dir, tmp_path):
    """One user's first hour in order (one test: each command is a fresh process that imports torch)."""
    # 1. Download: the total first, then everything the sd15 profile loads, safetensors only.
    done = cli("models", "download", "--profile", "sd15", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["fetched"] and summary["to_fetch"] == summary["files"] > 20
    assert summary["bytes_to_fetch"] == sum(item["bytes"] for item in summary["items"]) > 10_000_000
    files = cached_files(tmp_path / "hf-cache")
    assert len(files) == summary["files"]
    for item in summary["items"]:  # byte-identical to what the hub serves
        folder = tiny_models_dir / SD15_REPOS[item["repo"]]
        assert files[f"{item['repo']}/{item['file']}"] == (folder / item["file"]).read_bytes()
    names = [item["file"] for item in summary["items"]]
    assert all(name.endswith((".safetensors", ".json", ".txt")) for name in names)  # weights: safetensors only
    assert sum(name.endswith(".safetensors") for name in names) == 7

    # Again: nothing left to fetch, no byte downloaded twice.
    gets = sum(method == "GET" for method, _, _ in hub.requests)
    again = json.loads(cli("models", "download", "--json", env=env).stdout)
    assert again["to_fetch"] == 0 and sum(method == "GET" for method, _, _ in hub.requests) == gets

    # 2. The doctor now sees real weights for `auto`; `models info` shows every asset present.
    doctor = cli("doctor", "--json", env=env)
    models_check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "models")
    assert models_check["status"] == "ok" and "auto → sd15" in models_check["detail"]
    info = cli("models", "info", "--json", env=env)
    assert info.returncode == 0
    rows = json.loads(info.stdout)["assets"]
    assert all(row["present"] and row["bytes"] > 0 for row in rows if not row["optional"])
    missing = [row["asset"] for row in rows if not row["present"]]
    assert missing == ["lineart", "scribble", "softedge", "lcm_lora", "taesd", "tile"]  # optional, not asked for

    # 3. An optional ControlNet that is not there is named, with the command that fetches it...
    out = tmp_path / "out.png"
    args = ["render", str(SKETCH), "-p", "gold ornamental", "--steps", "1", "--size", "64", "--out", str(out)]
    refused = cli(*args, "--control", "lineart", env=env)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "lineart ControlNet" in refused.stderr and "models download --with lineart" in refused.stderr
    fetched = json.loads(cli("models", "download", "--with", "lineart", "--json", env=env).stdout)
    assert [item["repo"] for item in fetched["items"] if not item["repo"].startswith(tuple(SD15_REPOS))] == [
        "lllyasviel/control_v11p_sd15_lineart"
    ] * 2 and fetched["to_fetch"] == 2  # only what was missing: its config and weights

    # 4. ...and a render resolves sd15 and that ControlNet from the filled cache (the hub is gone).
    hub.stop()
    render = cli(*args, "--control", "lineart", "--json", env=env)
    assert render.returncode == 0, render.stderr
    recipe = json.loads(render.stdout)["recipe"]
    assert recipe["models"]["profile"] == "sd15" and recipe["smoke_test"] is False
    assert recipe["models"]["base"] == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert recipe["control"]["type"] == "lineart"
    assert recipe["models"]["controlnet"] == "lllyasviel/control_v11p_sd15_lineart"
    assert out.read_bytes().startswith(b"\x89PNG")


def test_a_killed_download_resumes_where_it_stopped(env, hub, tmp_path):
    cache = tmp_path / "hf-cache"
    hub.bytes_per_second = 1_000_000  # the 9.9 MB tiny UNet takes ~10 s
    child = subprocess.Popen([sys.executable, "-m", "sketch2render", "models", "download"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        parts = eventually(
            lambda: [p for p in cache.glob("models--*/blobs/*.incomplete") if p.stat().st_size > 2_000_000],
            120,
            0.05,
            what="the download to get going",
        )
        partial = parts[0]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    kept = partial.stat().st_size
    assert kept > 2_000_000

    hub.bytes_per_second = None
    done = cli("models", "download", "--json", env=env)

    assert done.returncode == 0, done.stderr
    resumed = [int(rng[6:].split("-")[0]) for method, path, rng in hub.requests if method == "GET" and rng]
    assert resumed and max(resumed) >= kept  # asked only for the rest
    assert not partial.exists()
    blob = partial.with_name(partial.name.removesuffix(".incomplete"))
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name  # whole and correct


def test_only_safetensors_are_downloaded_and_a_pickle_is_refused_before_anything_moves(env, hub, tmp_path):
    done = cli("models", "download", env={**env, "S2R_IP_ADAPTER_WEIGHT": "ip-adapter_sd15.bin"})

    assert done.returncode == 1
    assert "not a .safetensors file" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert hub.requests == [] and not (tmp_path / "hf-cache").exists()


def test_fp16_falls_back_to_the_full_weights_where_a_repo_has_no_fp16_copy(env, hub):
    plan = cli("models", "download", "--variant", "fp16", "--dry-run", "--json", env=env)

    assert plan.returncode == 0, plan.stderr
    summary = json.loads(plan.stdout)
    asked = [path for method, path, _ in hub.requests if method == "HEAD"]
    assert any(path.endswith(f"/{UNET.replace('.safetensors', '.fp16.safetensors')}") for path in asked)
    assert any(item["file"] == UNET for item in summary["items"])  # the stand-in hub has no fp16 copies
    assert summary["fetched"] is False and not any(method == "GET" for method, _, _ in hub.requests)


def test_offline_is_one_clear_line_and_a_non_zero_exit(env):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    done = cli("models", "download", env={**env, "HF_ENDPOINT": closed}, timeout=120)

    assert done.returncode == 1
    assert "cannot reach the Hugging Face hub" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_models_info_fails_when_the_requested_profile_is_missing(env):
    done = cli("models", "info", env={**env, "S2R_MODELS": "sd15"})

    assert done.returncode == 1
    assert "sketch2render models download" in done.stdout + done.stderr
    assert "✗" in done.stdout  # the asset table says what is missing
