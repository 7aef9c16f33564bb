"""The real thing: `python -m sketch2render.api` in a subprocess with the tiny models (real
diffusers pipeline, random weights), driven over HTTP. Needs the generation module.

- a full render: 401 without the key, /livez open, submit -> succeeded, PNG with the recipe,
  control image, the event stream, a 30 MB upload refused with 413, stage timings in /metrics;
- kill -9 while a job runs: after a restart every job ends succeeded or failed with a reason,
  the result finished before the kill is still served byte for byte; SIGTERM exits gracefully.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from waiting import eventually

from sketch2render.config import Settings
from sketch2render.errors import NoEdges
from sketch2render.render import read_recipe
from sketch2render.sketch import imaging

pytestmark = pytest.mark.slow

KEY = "process-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SKETCHES = Path(__file__).resolve().parents[2] / "src" / "sketch2render" / "data" / "sketches"
READY_TIMEOUT_S = 240  # first start builds the tiny models (~5 s) after importing torch + diffusers
TERMINAL = {"succeeded", "failed", "cancelled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.log = home, log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("S2R_")}
        env.update(S2R_HOME=str(home), S2R_MODELS="tiny", S2R_DEVICE="cpu", S2R_API_KEYS=KEY)
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sketch2render.api", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def wait_ready(self) -> dict:
        def ready() -> dict | None:
            assert self.proc.poll() is None, f"server exited: {self.log.read_text()[-3000:]}"
            response = self.http.get("/readyz", headers=AUTH)
            return response.json() if response.status_code == 200 else None

        return eventually(
            ready,
            READY_TIMEOUT_S,
            0.25,
            what=lambda: f"the server to be ready: {self.log.read_text()[-3000:]}",
            ignoring=(httpx.TransportError,),
        )

    def submit(self, sketch: Path, **fields) -> str:
        data = {"prompt": "a vase, ink", "steps": "2", "size": "64", "seed": "1", **fields}
        files = {"sketch": (sketch.name, sketch.read_bytes(), "image/png")}
        response = self.http.post("/v1/renders", data=data, files=files, headers=AUTH)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def job(self, job_id: str) -> dict:
        return self.http.get(f"/v1/renders/{job_id}", headers=AUTH).json()

    def wait(self, job_id: str, until: Callable[[dict], bool], timeout: float = 180) -> dict:
        def reached() -> dict | None:
            job = self.job(job_id)
            return job if until(job) else None

        return eventually(
            reached, timeout, 0.1, what=lambda: f"job {job_id}: {self.job(job_id)}\n{self.log.read_text()[-3000:]}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()


class Servers:
    """Servers on one home for the module: the render test and the crash test share the first
    start (each start costs ~15 s of imports and model loading on 2 cores)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.all: list[Server] = []

    def start(self) -> Server:
        server = Server(self.root / "home", self.root / "server.log")
        self.all.append(server)
        server.wait_ready()
        return server

    def current(self) -> Server:
        live = [s for s in self.all if s.proc.poll() is None]
        return live[-1] if live else self.start()


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[Servers]:
    pool = Servers(tmp_path_factory.mktemp("process"))
    yield pool
    for server in pool.all:
        if server.proc.poll() is None:
            server.stop(signal.SIGKILL)


def test_full_render_over_http_with_tiny_models(servers):
    server = servers.current()
    ready = server.http.get("/readyz", headers=AUTH).json()
    assert ready["profile"] == "tiny" and ready["smoke_test"] is True and "TINY" in ready["warning"].upper()
    http = server.http
    # Keys: /livez is open, everything else needs one.
    assert http.get("/livez").status_code == 200
    assert http.get("/v1/styles").status_code == 401
    styles = http.get("/v1/styles", headers=AUTH)
    assert styles.status_code == 200 and styles.json()["total"] == 21  # the API alone starts with the bundled styles
    # A render, start to finish.
    sketch = SKETCHES / "chiriqui_fig76_vase.png"
    job_id = server.submit(sketch)
    with http.stream("GET", f"/v1/renders/{job_id}/events", headers=AUTH) as response:
        lines = [line for line in response.iter_lines() if line.startswith("event: ")]
    assert lines[-2:] == ["event: status", "event: scores"]  # succeeded with its images, then the scores
    job = server.wait(job_id, lambda j: j["status"] in TERMINAL)
    assert job["status"] == "succeeded", job
    assert not job["scores_pending"] and len(job["result"]["scores"]) == 1  # the real CLIP scores are in
    assert job["progress"]["step"] == job["progress"]["total"] > 0
    recipe = job["result"]
    assert recipe["smoke_test"] is True and recipe["seed"] == 1 and recipe["timings"]["total"] > 0
    assert job["warning"]
    image = http.get(f"/v1/renders/{job_id}/image", headers=AUTH)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert read_recipe(image.content).seed == 1
    assert http.get(f"/v1/renders/{job_id}/control", headers=AUTH).content.startswith(b"\x89PNG")
    # A 30 MB upload is refused without being read.
    big = {"sketch": ("big.png", b"\x89PNG" + b"\0" * (30 * 1024 * 1024), "image/png")}
    assert http.post("/v1/renders", data={"prompt": "x"}, files=big, headers=AUTH).status_code == 413
    # Metrics saw the render's stages.
    metrics = http.get("/metrics", headers=AUTH).text
    assert 's2r_render_stage_seconds_count{stage="denoise"} 1.0' in metrics


def drawn_at(size: int) -> list[Path]:
    """The bundled sketches that still have lines at `size` px (a blank one is refused at submit)."""
    kept = []
    for path in sorted(SKETCHES.glob("*.png")):
        image = imaging.decode_upload(path.read_bytes(), Settings().limits)
        try:
            imaging.detect_edges(imaging.resize_for_generation(image, size))
        except NoEdges:
            continue
        kept.append(path)
    return kept


def test_kill_9_while_rendering_then_restart(servers):
    server = servers.current()
    sketches = drawn_at(64)
    # 1. One job done before the crash; its image must survive.
    first = server.submit(sketches[0])
    server.wait(first, lambda j: j["status"] == "succeeded")
    first_png = server.http.get(f"/v1/renders/{first}/image", headers=AUTH).content
    # 2. Several jobs, the first long enough (~0.5 s a step) to be killed half-way.
    ids = [server.submit(s, steps="10" if i == 0 else "2", seed=str(i)) for i, s in enumerate(sketches[1:4])]
    server.wait(ids[0], lambda j: j["status"] == "running" and j["progress"]["step"] >= 1)
    server.stop(signal.SIGKILL)
    # 3. Restart on the same home: every job ends, succeeded or failed with a reason.
    server = servers.start()
    for job_id in ids:
        job = server.wait(job_id, lambda j: j["status"] in TERMINAL, timeout=300)
        assert job["status"] in {"succeeded", "failed"}, job
        if job["status"] == "failed":
            assert job["error"]["code"] and job["error"]["message"], job
        else:
            assert server.http.get(f"/v1/renders/{job_id}/image", headers=AUTH).status_code == 200
    assert server.job(ids[0])["attempts"] == 2  # the interrupted one ran again
    # 4. The earlier result is still served, unchanged.
    assert server.job(first)["status"] == "succeeded"
    assert server.http.get(f"/v1/renders/{first}/image", headers=AUTH).content == first_png
    history = {j["id"] for j in server.http.get("/v1/renders?limit=200", headers=AUTH).json()["items"]}
    assert {first, *ids} <= history
    # 5. SIGTERM: a graceful exit (uvicorn re-raises the signal once it has shut down).
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log.read_text()
