"""Restarts on the same home: finished results survive, interrupted jobs run again once or fail
with a reason, queued jobs keep their order; graceful shutdown finishes or re-queues."""

from __future__ import annotations

import sqlite3
import threading
import time

from api.conftest import submit, wait_for
from api.fakes import FakeRenderService
from sketch2render.jobs.store import RESTART_REASON


def _crash(db, job_id: str, attempts: int) -> None:
    """What a kill -9 leaves behind: the row still says running."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE jobs SET status='running', started_at=?, step=2, attempts=?, worker_id='dead:1' WHERE id=?",
            (time.time(), attempts, job_id),
        )


def test_restart_keeps_results_and_recovers_interrupted_jobs(harness):
    # 1. A first server: one job done, three stay queued behind a held render.
    gate = threading.Event()
    client, _ = harness.client(service=FakeRenderService(harness.settings(), gate=gate), shutdown_grace=0.1)
    gate.set()
    done = wait_for(
        client, submit(client).json()["id"], lambda job: job["status"] == "succeeded" and not job["scores_pending"]
    )
    gate.clear()
    ids = [submit(client, prompt=f"job {i}").json()["id"] for i in range(4)]
    wait_for(client, ids[0], {"running"})
    harness.close(client)  # re-queues the held render (graceful: no attempt used)
    # 2. Make it look like a crash: two rows left running (first attempt, second attempt).
    db = harness.home / "jobs.sqlite3"
    _crash(db, ids[0], attempts=1)
    _crash(db, ids[1], attempts=2)
    # 3. A second server on the same home.
    fake = FakeRenderService(harness.settings())
    client, _ = harness.client(service=fake)
    jobs = {i: wait_for(client, i) for i in ids}
    assert jobs[ids[0]]["status"] == "succeeded" and jobs[ids[0]]["attempts"] == 2
    assert jobs[ids[1]]["status"] == "failed"
    assert jobs[ids[1]]["error"] == {"code": "interrupted", "message": RESTART_REASON}
    assert jobs[ids[2]]["status"] == jobs[ids[3]]["status"] == "succeeded"
    assert [p.prompt for p in fake.calls] == ["job 0", "job 2", "job 3"]  # FIFO kept
    # 4. The result from before the restart is still served.
    old = client.get(f"/v1/renders/{done['id']}").json()
    assert old["status"] == "succeeded" and old["result"] == done["result"]
    assert client.get(done["urls"]["images"][0]).status_code == 200


def test_graceful_shutdown_lets_a_short_render_finish(harness):
    client, _ = harness.client(service=FakeRenderService(harness.settings(), step_delay=0.05), shutdown_grace=5)
    job_id = submit(client, steps="8").json()["id"]
    wait_for(client, job_id, {"running"})
    harness.close(client)
    client, _ = harness.client()
    assert client.get(f"/v1/renders/{job_id}").json()["status"] == "succeeded"
    assert client.get(f"/v1/renders/{job_id}").json()["attempts"] == 1


def test_graceful_shutdown_requeues_a_long_render_without_using_an_attempt(harness):
    fake = FakeRenderService(harness.settings(), gate=threading.Event())
    client, _ = harness.client(service=fake, shutdown_grace=0.2)
    job_id = submit(client).json()["id"]
    wait_for(client, job_id, {"running"})
    started = time.monotonic()
    harness.close(client)
    assert time.monotonic() - started < 3
    with sqlite3.connect(harness.home / "jobs.sqlite3") as conn:
        status, attempts = conn.execute("SELECT status, attempts FROM jobs WHERE id=?", (job_id,)).fetchone()
    assert (status, attempts) == ("queued", 0)
    client, _ = harness.client()
    job = wait_for(client, job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 1


def test_a_missing_input_fails_the_job_with_a_reason(harness):
    gate = threading.Event()
    client, _ = harness.client(service=FakeRenderService(harness.settings(), gate=gate), shutdown_grace=0.1)
    submit(client)
    queued = submit(client).json()["id"]
    harness.close(client)
    (harness.home / "renders" / queued / "sketch.input").unlink()
    client, _ = harness.client()
    job = wait_for(client, queued)
    assert job["status"] == "failed" and job["error"]["code"] == "not_found"
