"""S2R_BACKEND=ray end to end, in process: the API (create_app + TestClient) on a local Ray
instance with two CPU render replicas (tiny models) and a Chroma server started by the test.

Concurrency across replicas, styles shared through the server, cancellation, the queue's 429,
and a replica killed mid-job (retried on the other replica, or failed with the reason).
The tests share one deployment (starting replicas is the slow part); the kill test runs last.

First, before that deployment exists: `S2R_BACKEND=ray sketch2render serve` alone on one machine
starts its own Chroma server and Ray instance, renders through two replicas, and on SIGTERM leaves
no process behind. (One file, so that `make test`'s workers, which take a file each, never run two
Ray instances at once.)
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import httpx
import pytest
from api.conftest import wait_for as api_wait_for
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from sessions import session_processes, stop_server
from waiting import eventually

from sketch2render.api import create_app
from sketch2render.config import Settings
from sketch2render.principals import ANONYMOUS
from sketch2render.render import read_recipe
from sketch2render.scale.chroma_server import free_port
from sketch2render.scale.ray_worker import APP_NAME, DEPLOYMENT_NAME
from sketch2render.schemas import RenderParams
from sketch2render.styles import build_chroma_client
from sketch2render.styles.blobs import BLOBS_COLLECTION

TERMINAL = {"succeeded", "failed", "cancelled"}
REPLICA_PREFIX = f"SERVE_REPLICA::{APP_NAME}#{DEPLOYMENT_NAME}#"


def sketch_png(shift: int = 0) -> bytes:
    image = Image.new("RGB", (96, 64), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10 + shift, 10, 84, 52), outline="black", width=2)
    draw.line((10 + shift, 10, 84, 52), fill="black", width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def colour_png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def submit(client: TestClient, shift: int = 0, **fields):
    data = {"prompt": "a red house", "steps": "2", "size": "64", "seed": "7", **{k: str(v) for k, v in fields.items()}}
    return client.post("/v1/renders", data=data, files={"sketch": ("s.png", sketch_png(shift), "image/png")})


wait_for = partial(api_wait_for, timeout=120.0)  # the API tests' poller, with a timeout fit for replicas on 2 cores


def running_replicas() -> int:
    from ray import serve

    app = serve.status().applications.get(APP_NAME)
    if app is None or DEPLOYMENT_NAME not in app.deployments:
        return 0
    return app.deployments[DEPLOYMENT_NAME].replica_states.get("RUNNING", 0)


def wait_replicas(n: int, timeout: float = 180.0) -> None:
    eventually(lambda: running_replicas() == n, timeout, 0.5, what=lambda: f"{n} replicas ({running_replicas()} run)")


# --- `sketch2render serve` with the Ray backend, as a user starts it (runs first) --------------------
START = "import sys; from sketch2render.cli import app; sys.argv[0] = 'sketch2render'; app()"


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
        stop_server(process)
        log.close()


def test_serve_with_the_ray_backend_renders_on_two_replicas_and_cleans_up(server):
    process, url, tmp_path = server

    def log() -> str:
        return (tmp_path / "serve.log").read_text()[-3000:]

    with httpx.Client(base_url=url, timeout=10) as client:

        def ready() -> bool:
            assert process.poll() is None, log()
            return client.get("/readyz").json().get("ready")

        eventually(ready, 300, 0.5, what=log, ignoring=(httpx.HTTPError,))
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
            job = wait_for(client, job_id, {"succeeded", "failed"}, interval=0.1)
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
    eventually(
        lambda: not (session_processes(process.pid) or _chroma_children(tmp_path)),
        20,
        0.5,
        what=lambda: f"Ray and Chroma to end: {session_processes(process.pid), _chroma_children(tmp_path)}",
    )


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


# --- the API in process on one shared deployment ----------------------------------------------------
@pytest.fixture(scope="module")
def api(local_ray, module_chroma, tiny_models_dir, tiny_sdxl_dir, tmp_path_factory):
    settings = Settings(
        home=tmp_path_factory.mktemp("home"),
        models=f"{tiny_models_dir},{tiny_sdxl_dir}",  # SD 1.5 the default; SDXL loads on a replica on first use
        device="cpu",
        backend="ray",
        chroma_url=module_chroma,
        ray_min_replicas=2,
        ray_max_replicas=2,
        queue_max=8,
        preview_every=1,  # 2-step renders: a preview after step 1, relayed from the replica
    )
    app = create_app(settings, shutdown_grace=2.0)
    with TestClient(app) as client:

        def ready() -> bool:
            answer = client.get("/readyz").json()
            assert not any("failed" in r for r in answer.get("reasons", [])), answer
            return answer.get("ready")

        eventually(ready, 300, 0.5, what=lambda: f"the ray backend to get ready: {client.get('/readyz').json()}")
        yield client, app.state.runtime


def test_six_jobs_all_succeed_on_both_replicas(api):
    client, runtime = api
    wait_replicas(2)
    ids = []
    for i in range(6):
        response = submit(client, shift=i, seed=i)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    jobs = [wait_for(client, job_id) for job_id in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 6, jobs
    rows = [runtime.store.get(job_id) for job_id in ids]
    replicas = {row.worker_id for row in rows}
    assert len(replicas) == 2 and all(r.startswith(REPLICA_PREFIX) for r in replicas), replicas
    # two at a time: some jobs overlapped in time
    spans = sorted((row.started_at, row.finished_at) for row in rows)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), spans
    # the outputs are where the routes look, the recipe inside the PNG
    image = client.get(f"/v1/renders/{ids[3]}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert read_recipe(image.content).seed == 3
    assert client.get(f"/v1/renders/{ids[3]}/control").status_code == 200
    assert jobs[3]["result"]["seed"] == 3 and jobs[3]["progress"]["step"] == 2
    preview = client.get(f"/v1/renders/{ids[3]}/preview")  # TAESD on the replica, relayed
    assert preview.status_code == 200 and Image.open(io.BytesIO(preview.content)).size == (64, 40)


def test_a_second_family_renders_on_a_replica(api):
    client, runtime = api
    assert client.get("/v1/families").json()["default"] == "sd15"
    job = wait_for(client, submit(client, seed=4, family="sdxl").json()["id"], timeout=240)
    assert job["status"] == "succeeded", job
    assert job["result"]["family"] == "sdxl" and runtime.store.get(job["id"]).worker_id.startswith(REPLICA_PREFIX)
    recipe = read_recipe(client.get(f"/v1/renders/{job['id']}/image").content)
    assert recipe.models["profile"] == "tiny-sdxl"


def test_a_style_added_through_the_api_renders_on_a_replica(api, module_chroma):
    client, _ = api
    added = client.post(
        "/v1/styles",
        data={"title": "Vermilion scale-out poster", "tags": "poster,scaleout"},
        files={"image": ("v.png", colour_png((227, 66, 52)), "image/png")},
    )
    assert added.status_code == 201, added.text
    style_id = added.json()["id"]
    hits = client.get("/v1/styles/search", params={"q": "vermilion scaleout"}).json()["hits"]
    assert hits and hits[0]["style"]["id"] == style_id
    assert client.get(f"/v1/styles/{style_id}/image").content.startswith(b"\x89PNG")
    job_id = submit(client, style_ids=style_id).json()["id"]
    job = wait_for(client, job_id)
    assert job["status"] == "succeeded", job
    used = [s for s in job["result"]["styles"] if s["weight"]]
    assert [s["style"]["id"] for s in used] == [style_id]
    # the replica got the image with the job; the API stored the IP-Adapter embedding it computed on the server
    blobs = build_chroma_client(module_chroma).get_collection(BLOBS_COLLECTION)
    names = blobs.get(where={"style": style_id}, include=[])["ids"]
    assert any("/embeds/" in name for name in names), names
    # retrieval (in the API process, for the replica) learns from the job owner's corrections
    said = client.post("/v1/feedback", json={"prompt": "scaleout poster", "style_id": style_id, "signal": "chosen"})
    assert said.status_code == 201, said.text
    job = wait_for(client, submit(client, prompt="scaleout poster").json()["id"])
    first = job["result"]["styles"][0]
    assert first["style"]["id"] == style_id and first["explain"][0].startswith("feedback: +"), first


def test_cancelling_a_running_job_frees_its_replica(api):
    client, _ = api
    job_id = submit(client, steps=150).json()["id"]
    wait_for(client, job_id, lambda j: j["status"] == "running" and j["progress"]["step"] >= 1, timeout=60)
    assert client.delete(f"/v1/renders/{job_id}").status_code == 202
    assert wait_for(client, job_id, timeout=30)["status"] == "cancelled"
    follow_up = submit(client, seed=11).json()["id"]
    assert wait_for(client, follow_up)["status"] == "succeeded"


def test_a_full_queue_answers_429_with_retry_after(api):
    client, _ = api
    accepted = []
    try:
        for _ in range(20):
            response = submit(client, steps=150)
            if response.status_code == 429:
                break
            assert response.status_code == 202, response.text
            accepted.append(response.json()["id"])
        assert response.status_code == 429, "the queue never filled"
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] == "queue_full"
        assert len(accepted) >= 8  # queue_max waiting, plus the ones the replicas took
    finally:
        for job_id in accepted:
            client.delete(f"/v1/renders/{job_id}")
        for job_id in accepted:
            assert wait_for(client, job_id, timeout=60)["status"] in TERMINAL


def test_while_the_serve_app_is_gone_readyz_is_503_and_jobs_wait(api):
    """The Serve app deleted under the API (as `serve delete` or a cluster restart leaves it): /readyz
    says so and a job waits in the queue; deployed again, the API finds it and the job runs."""
    from ray import serve

    from sketch2render.scale.ray_worker import build_app, use_gpus

    client, runtime = api
    serve.delete(APP_NAME)

    def unreachable() -> dict | None:
        body = client.get("/readyz").json()
        return body if "ray_unreachable" in body["faults"] else None

    down = eventually(unreachable, 30, 0.2, what=lambda: f"/readyz to name the app: {client.get('/readyz').json()}")
    assert not down["ready"] and any(APP_NAME in r for r in down["reasons"]), down
    refused = submit(client, seed=21)  # a new render fails fast, naming the app
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "ray_unavailable", refused.text
    assert APP_NAME in refused.json()["error"]["message"]
    # A job queued before the app went (stored as the POST stores it) waits instead of failing.
    params = RenderParams(prompt="a red house", steps=3, size=64, seed=21).model_dump(mode="json")
    job_id = runtime.store.submit(sketch_png(), params, owner=ANONYMOUS.name)[0].id
    runtime.worker.notify()
    time.sleep(3)  # longer than the probe's period: the job is left alone, not failed
    assert client.get(f"/v1/renders/{job_id}").json()["status"] == "queued"
    serve.run(build_app(runtime.settings, gpus=use_gpus(runtime.settings)), name=APP_NAME, route_prefix=None)
    eventually(lambda: client.get("/readyz").status_code == 200, 120, 0.5, what="/readyz 200 after the redeploy")
    assert wait_for(client, job_id)["status"] == "succeeded"
    metrics = client.get("/metrics").text
    assert 's2r_faults_total{kind="ray_unreachable"} 1.0' in metrics


def test_killing_a_replica_mid_job_retries_or_fails_with_a_reason(api):
    import ray

    client, runtime = api
    wait_replicas(2)
    job_id = submit(client, steps=60, seed=5).json()["id"]  # long enough to be killed mid-job, short to retry
    wait_for(
        client,
        job_id,
        lambda j: j["status"] == "running" and j["progress"]["step"] >= 2 and _worker(runtime, job_id),
        timeout=60,
    )
    victim = _worker(runtime, job_id)
    ray.kill(ray.get_actor(victim, namespace="serve"))
    job = wait_for(client, job_id, timeout=180)
    if job["status"] == "succeeded":
        assert _worker(runtime, job_id) != victim  # retried on the other replica
    else:
        assert job["status"] == "failed" and job["error"]["code"] == "worker_died", job
        assert "died" in job["error"]["message"]
    # Serve replaces the dead replica: capacity comes back
    wait_replicas(2)
    assert wait_for(client, submit(client, seed=12).json()["id"])["status"] == "succeeded"


def _worker(runtime, job_id: str) -> str | None:
    worker = runtime.store.get(job_id).worker_id
    return worker if worker and worker.startswith(REPLICA_PREFIX) else None
