"""`S2R_BACKEND=ray sketch2render serve` alone on one machine: it starts its own Chroma server
and Ray instance, renders through two replicas, and on SIGTERM leaves no process behind."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from sketch2render.scale.chroma_server import free_port

START = "import sys; from sketch2render.cli import app; sys.argv[0] = 'sketch2render'; app()"


def session_processes(sid: int) -> list[int]:
    """Pids in a session (the API started in its own session; Ray's processes stay in it)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session ...
            found.append(int(stat.parent.name))
    return found


def kill_session(sid: int) -> None:
    for pid in session_processes(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def sketch_png() -> bytes:
    image = Image.new("RGB", (96, 64), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 84, 52), outline="black", width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path, tiny_models_dir):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S2R_", "RAY_"))}
    env.update(
        S2R_BACKEND="ray",
        S2R_HOME=str(tmp_path / "home"),
        S2R_MODELS=str(tiny_models_dir),
        S2R_DEVICE="cpu",
        S2R_RAY_MIN_REPLICAS="2",
        S2R_RAY_MAX_REPLICAS="2",
    )
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed by the finalizer)
    process = subprocess.Popen(
        [sys.executable, "-c", START, "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process, f"http://127.0.0.1:{port}", tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                pass
        kill_session(process.pid)
        process.wait(10)
        log.close()


def test_serve_with_the_ray_backend_renders_on_two_replicas_and_cleans_up(server):
    process, url, tmp_path = server
    deadline = time.monotonic() + 300
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if client.get("/readyz").json().get("ready"):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        ids = []
        for seed in range(4):
            response = client.post(
                "/v1/renders",
                data={"prompt": "a house", "steps": "2", "size": "64", "seed": str(seed)},
                files={"sketch": ("s.png", sketch_png(), "image/png")},
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        for job_id in ids:
            while (job := client.get(f"/v1/renders/{job_id}").json())["status"] not in {"succeeded", "failed"}:
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
            assert job["status"] == "succeeded", job
        assert client.get(f"/v1/renders/{ids[0]}/image").content.startswith(b"\x89PNG")
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
    # every job ran on a replica, and both replicas took some
    with sqlite3.connect(tmp_path / "home" / "jobs.sqlite3") as db:
        workers = {row[0] for row in db.execute("SELECT worker_id FROM jobs")}
    assert len(workers) == 2 and all(w.startswith("SERVE_REPLICA::") for w in workers), workers
    # Ray's processes and the Chroma server are gone
    deadline = time.monotonic() + 20
    while session_processes(process.pid) or _chroma_children(tmp_path):
        assert time.monotonic() < deadline, (session_processes(process.pid), _chroma_children(tmp_path))
        time.sleep(0.5)


def _chroma_children(tmp_path: Path) -> list[int]:
    store = str(tmp_path / "home" / "chroma-server")
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if store.encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids
