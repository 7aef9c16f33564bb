"""Readiness under real faults, and the server finding its feet again without a restart.

- The Chroma server under S2R_CHROMA_URL stops (a real server process, stopped, then started
  again on the same port and data): `/readyz` is 503 naming it, a search is a quick 503
  `chroma_unavailable`, a render submitted meanwhile waits in the queue; when the server is back
  `/readyz` is 200 again and the job runs.
- The same server hung (SIGSTOP): a search is a 503 after the client's timeout, not a hang.
- The job database refuses the worker's claims (another connection holds it with BEGIN EXCLUSIVE):
  `/readyz` is 503 with the reason until it lets go.

`/metrics` counts each fault once, when it appears, and says whether the server is ready. The Ray
cluster's probe is checked here with a question that hangs; the Serve app that goes away, in
tests/ray/test_ray_backend.py.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeEmbeddings
from fastapi.testclient import TestClient
from waiting import eventually

from api.conftest import assert_error, colour_png, submit, wait_for
from api.fakes import FakeRenderService
from sketch2render.api import create_app
from sketch2render.api.metrics import CHROMA_UNREACHABLE, CLAIM_FAILED
from sketch2render.config import Settings
from sketch2render.errors import ChromaUnavailable
from sketch2render.scale.chroma_server import ChromaServer
from sketch2render.scale.ray_health import ServeProbe
from sketch2render.schemas import StyleMeta
from sketch2render.styles import StyleLibrary, build_chroma_client
from sketch2render.styles.blobs import ChromaBlobs


def fault_count(client: TestClient, kind: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf'^s2r_faults_total\{{kind="{kind}"\}} (\S+)$', text, re.MULTILINE)
    assert found, text
    return float(found.group(1))


def ready_gauge(client: TestClient) -> float:
    found = re.search(r"^s2r_ready (\S+)$", client.get("/metrics").text, re.MULTILINE)
    assert found
    return float(found.group(1))


def readyz_when(client: TestClient, status: int, timeout: float = 15.0, fault: str | None = None) -> dict:
    """/readyz's body once it answers `status` (and names `fault`, given one)."""

    def answered():
        response = client.get("/readyz")
        body = response.json()
        return body if response.status_code == status and (fault is None or fault in body["faults"]) else None

    what = f"/readyz {status} {fault or ''}"
    return eventually(answered, timeout, 0.1, what=lambda: f"{what}: {client.get('/readyz').json()}")


def chroma_library(settings: Settings, url: str) -> StyleLibrary:
    """The style library on the Chroma server at `url`, as build_library makes it (fake embeddings)."""
    client = build_chroma_client(url)
    return StyleLibrary(settings.styles_dir, FakeEmbeddings(), client=client, blobs=ChromaBlobs(client))


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-server")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_a_chroma_server_that_goes_away_makes_searches_and_renders_503_and_queued_jobs_wait(harness, chroma):
    url = chroma.url
    settings = harness.settings(chroma_url=url)
    library = chroma_library(settings, url)
    library.add_bytes(colour_png("red"), StyleMeta(title="red", tags=["red"]))
    gate = threading.Event()
    fake = FakeRenderService(settings, library=library, gate=gate)
    client, _ = harness.client(service=fake, chroma_url=url)
    assert client.get("/readyz").status_code == 200
    assert client.get("/v1/styles/search", params={"q": "red"}).status_code == 200
    assert fault_count(client, CHROMA_UNREACHABLE) == 0 and ready_gauge(client) == 1
    running = submit(client).json()["id"]
    assert fake.started.wait(10)  # held at the gate
    queued = submit(client, seed="2").json()["id"]  # waits behind it

    chroma.stop()  # the server process ends; the data stays on disk
    down = readyz_when(client, 503, fault=CHROMA_UNREACHABLE)
    assert down["faults"] == [CHROMA_UNREACHABLE]
    assert any("Chroma" in r and url in r for r in down["reasons"]), down
    t0 = time.monotonic()
    error = assert_error(client.get("/v1/styles/search", params={"q": "red"}), 503, ChromaUnavailable.code)
    assert time.monotonic() - t0 < 3.0 and url in error["message"]
    error = assert_error(submit(client, seed="3"), 503, ChromaUnavailable.code)  # a new render: at once
    assert url in error["message"]
    gate.set()
    wait_for(client, running, timeout=20)  # the render that was running ends, one way or the other
    time.sleep(1.5)  # the worker looks every half second: it must leave the queued job alone
    assert client.get(f"/v1/renders/{queued}").json()["status"] == "queued"
    assert fault_count(client, CHROMA_UNREACHABLE) == 1 and ready_gauge(client) == 0

    chroma.start()  # the same port, the same data
    up = readyz_when(client, 200)
    assert up["reasons"] == [] and up["faults"] == []
    job = wait_for(client, queued, timeout=20)
    assert job["status"] == "succeeded", job
    assert job["result"]["styles"][0]["style"]["title"] == "red"  # retrieved from the server that came back
    hits = client.get("/v1/styles/search", params={"q": "red"}).json()["hits"]
    assert hits and hits[0]["style"]["title"] == "red"
    assert fault_count(client, CHROMA_UNREACHABLE) == 1 and ready_gauge(client) == 1  # counted once


@pytest.mark.slow
def test_a_chroma_server_that_hangs_is_a_503_after_the_timeout_not_a_hang(harness, chroma, monkeypatch):
    """The server process stopped with SIGSTOP: it accepts connections and never answers."""
    monkeypatch.setattr("sketch2render.styles.chroma_link.CALL_TIMEOUT_S", 2.0)
    settings = harness.settings(chroma_url=chroma.url)
    library = chroma_library(settings, chroma.url)
    library.add_bytes(colour_png("blue"), StyleMeta(title="blue"))
    client, _ = harness.client(service=FakeRenderService(settings, library=library), chroma_url=chroma.url)
    assert chroma.process is not None
    os.killpg(chroma.process.pid, signal.SIGSTOP)
    try:
        readyz_when(client, 503, fault=CHROMA_UNREACHABLE, timeout=10)
        t0 = time.monotonic()
        assert_error(client.get("/v1/styles/search", params={"q": "blue"}), 503, ChromaUnavailable.code)
        assert time.monotonic() - t0 < 6.0
    finally:
        os.killpg(chroma.process.pid, signal.SIGCONT)
    readyz_when(client, 200)
    assert client.get("/v1/styles/search", params={"q": "blue"}).status_code == 200


@pytest.mark.slow
def test_a_server_started_while_chroma_is_down_loads_once_it_is_up(harness, chroma, monkeypatch):
    url = chroma.url
    chroma.stop()
    settings = harness.settings(chroma_url=url)

    def build(s):  # the styles on the Chroma server, as build_service builds them
        return FakeRenderService(s, library=chroma_library(s, url))

    monkeypatch.setattr("sketch2render.api.runtime.build_service", build)
    with TestClient(create_app(settings)) as client:
        down = readyz_when(client, 503, fault=CHROMA_UNREACHABLE)
        assert any(url in r for r in down["reasons"]), down
        assert_error(submit(client), 503)  # the models wait for the server: nothing is accepted yet
        chroma.start()
        readyz_when(client, 200, timeout=30)
        response = submit(client)
        assert response.status_code == 202, response.text
        assert wait_for(client, response.json()["id"], timeout=20)["status"] == "succeeded"


def test_an_unreachable_chroma_url_is_a_503_naming_it_at_once():
    t0 = time.monotonic()
    with pytest.raises(ChromaUnavailable, match="127.0.0.1:9"):
        build_chroma_client("http://127.0.0.1:9")
    assert time.monotonic() - t0 < 3.0


@pytest.mark.slow
def test_readyz_is_503_while_the_worker_cannot_claim_jobs(harness, monkeypatch):
    """The job database locked by another connection: the worker's claim fails (after SQLite's busy
    timeout), `/readyz` says so; when the lock goes, the job runs and `/readyz` is 200."""
    release = threading.Event()
    settings = harness.settings()
    fake = FakeRenderService(settings)

    def slow_build(s):  # a job waits in the queue until the database is locked
        release.wait(30)
        return fake

    monkeypatch.setattr("sketch2render.api.runtime.build_service", slow_build)
    with TestClient(create_app(settings)) as client:
        if not hasattr(client.app.state.runtime.worker, "claim_error"):
            pytest.skip("this JobWorker does not report its claim failures (claim_error)")
        job_id = submit(client).json()["id"]
        locker = sqlite3.connect(settings.jobs_db, isolation_level=None, timeout=1.0)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            release.set()  # the models load; the worker tries to claim the job and cannot
            down = readyz_when(client, 503, timeout=30, fault=CLAIM_FAILED)
            assert down["faults"] == [CLAIM_FAILED], down
            assert any("cannot claim" in r and "locked" in r for r in down["reasons"]), down
            assert client.get(f"/v1/renders/{job_id}").json()["status"] == "queued"
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert wait_for(client, job_id, timeout=30)["status"] == "succeeded"
        assert readyz_when(client, 200)["faults"] == []
        assert fault_count(client, CLAIM_FAILED) == 1


def test_the_ray_probe_never_waits_on_a_cluster_that_does_not_answer():
    answers = iter(["the Ray Serve app 'sketch2render' is not deployed", None])
    stuck, release = threading.Event(), threading.Event()

    def ask() -> str | None:
        if stuck.is_set():
            release.wait(30)  # stands for serve.status() on a cluster that is gone
        return next(answers, None)

    probe = ServeProbe(ask, ttl=0.05, timeout=0.3)
    assert eventually(probe.problem, 5, 0.01) == "the Ray Serve app 'sketch2render' is not deployed"
    eventually(lambda: probe.problem() is None, 5, 0.01, what="the app to be back")
    stuck.set()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert probe.problem() is None  # asked, not answered yet: the last answer stands
    assert time.monotonic() - t0 < 0.1
    assert "did not answer" in eventually(probe.problem, 5, 0.01)
    release.set()
