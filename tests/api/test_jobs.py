"""JobStore on its own: schema, WAL, FIFO claims, conditional transitions, recovery, pruning."""

from __future__ import annotations

import sqlite3

import pytest
from jobsdb import SCHEMA_VERSION, execute, lapse

from sketch2render.errors import Conflict, IdempotencyConflict, NotFound, QueueFull
from sketch2render.jobs.store import INPUT_NAME, MAX_ATTEMPTS, JobStatus, JobStore


@pytest.fixture
def where(tmp_path, database_url):
    """The jobs database of a test: a SQLite file, or a fresh PostgreSQL database."""
    return database_url or tmp_path / "jobs.sqlite3"


@pytest.fixture
def store(where, tmp_path):
    s = JobStore(where, tmp_path / "renders", queue_max=3, max_history=10)
    yield s
    s.close()


def test_schema_is_idempotent_and_wal(where, tmp_path, store):
    job, _ = store.submit(b"in", {"steps": 4})
    again = JobStore(where, tmp_path / "renders", queue_max=3, max_history=10)
    assert again.get(job.id).params == {"steps": 4}
    again.close()
    if isinstance(where, str):
        return  # PostgreSQL: neither WAL nor user_version is a thing there
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_submit_writes_the_input_and_the_row(store):
    job, created = store.submit(b"sketch bytes", {"steps": 5})
    assert created and job.status == JobStatus.QUEUED and job.total == 5 and len(job.id) == 32
    assert (store.job_dir(job.id) / INPUT_NAME).read_bytes() == b"sketch bytes"


def test_claims_are_fifo_and_exclusive(store):
    ids = [store.submit(b"x", {"n": i})[0].id for i in range(3)]
    claimed = [store.claim_next("w").id for _ in range(3)]
    assert claimed == ids and store.claim_next("w") is None
    assert store.get(ids[0]).status == JobStatus.RUNNING and store.get(ids[0]).attempts == 1


def test_transitions_only_from_running(store):
    job, _ = store.submit(b"x", {})
    assert not store.finish(job.id, JobStatus.SUCCEEDED)  # still queued
    store.claim_next("w")
    assert store.set_progress(job.id, 1, 4)
    assert store.finish(job.id, JobStatus.FAILED, error=("boom", "it broke"))
    assert not store.finish(job.id, JobStatus.SUCCEEDED) and not store.set_progress(job.id, 2, 4)
    assert not store.requeue(job.id)
    assert store.get(job.id).error_message == "it broke"
    with pytest.raises(ValueError):
        store.finish(job.id, JobStatus.RUNNING)


def test_cancel(store):
    queued, _ = store.submit(b"x", {})
    running, _ = store.submit(b"x", {})
    store.claim_next("w")  # claims `queued` (oldest)
    assert store.cancel(running.id).status == JobStatus.CANCELLED
    assert store.cancel(queued.id).cancel_requested and store.get(queued.id).status == JobStatus.RUNNING
    with pytest.raises(Conflict):
        store.cancel(running.id)
    with pytest.raises(NotFound):
        store.cancel("f" * 32)


def test_queue_limit_and_idempotency(store):
    first, _ = store.submit(b"x", {}, idempotency_key="k", request_hash="h1")
    assert store.submit(b"x", {}, idempotency_key="k", request_hash="h1") == (first, False)
    with pytest.raises(IdempotencyConflict):
        store.submit(b"y", {}, idempotency_key="k", request_hash="h2")
    store.submit(b"x", {})
    store.submit(b"x", {})
    with pytest.raises(QueueFull) as refused:
        store.submit(b"x", {})
    assert refused.value.headers["Retry-After"] == "5"  # no history yet: the default
    assert len(list(store.renders_dir.iterdir())) == 3  # the refused input was not kept


def test_recover(store):
    ids = [store.submit(b"x", {})[0].id for _ in range(3)]
    store.claim_next("w")
    store.claim_next("w")
    execute(store, "UPDATE jobs SET attempts = :n WHERE id = :id", n=MAX_ATTEMPTS, id=ids[1])  # retried once
    lapse(store, ids[0], ids[1])  # their process crashed: nobody renews their leases
    assert store.recover() == {"requeued": 1, "failed": 1}
    assert [store.get(i).status for i in ids] == [JobStatus.QUEUED, JobStatus.FAILED, JobStatus.QUEUED]
    assert store.claim_next("w").id == ids[0]  # kept its place


def test_prune_keeps_unfinished_jobs(where, tmp_path):
    store = JobStore(where, tmp_path / "r", queue_max=100, max_history=10)
    ids = [store.submit(b"x", {})[0].id for _ in range(12)]
    for _ in range(3):
        job = store.claim_next("w")
        store.finish(job.id, JobStatus.SUCCEEDED, result={}, images=1)
    _, total = store.list()
    assert total == 10 and not store.job_dir(ids[0]).exists() and store.get(ids[2]).status == JobStatus.SUCCEEDED
    store.close()


def test_prune_keeps_the_oldest_jobs_when_they_are_unfinished(where, tmp_path):
    """The oldest jobs still waiting (or running) are never pruned; the oldest finished ones go."""
    store = JobStore(where, tmp_path / "r", queue_max=100, max_history=10)
    waiting = [store.submit(b"x", {"n": i})[0].id for i in range(6)]  # the oldest: never claimed
    finished = []
    for i in range(6):
        job = store.submit(b"x", {"m": i})[0]
        execute(store, "UPDATE jobs SET status = 'running' WHERE id = :id", id=job.id)
        store.finish(job.id, JobStatus.SUCCEEDED, result={}, images=1)
        finished.append(job.id)
    _, total = store.list(limit=100)
    assert total == 10  # two over the cap: the two oldest *finished* jobs went, not the oldest jobs
    assert all(store.get(i).status == JobStatus.QUEUED and store.job_dir(i).exists() for i in waiting)
    assert [store.job_dir(i).exists() for i in finished] == [False, False, True, True, True, True]
    store.close()


def test_ids_never_reach_the_filesystem(store):
    for bad in ["../x", "A" * 32, "g" * 32, ""]:
        with pytest.raises(NotFound):
            store.job_dir(bad)
        with pytest.raises(NotFound):
            store.get(bad)


def test_a_cancel_requested_before_a_requeue_or_crash_is_kept(store):
    a = store.submit(b"x", {"n": 1})[0].id
    b = store.submit(b"x", {"n": 2})[0].id
    assert store.claim_next("w").id == a
    store.cancel(a)  # running: only flagged, the worker would stop it between steps
    store.requeue(a)  # graceful shutdown ran out of time before the next step
    assert store.get(a).status == JobStatus.CANCELLED
    assert store.claim_next("w").id == b
    store.cancel(b)
    lapse(store, b)  # the crash case: its process is gone
    assert store.recover() == {"requeued": 0, "failed": 0}  # the crash case
    assert store.get(b).status == JobStatus.CANCELLED


def test_a_stream_of_live_jobs_never_starves_a_waiting_quality_job(where, tmp_path):
    store = JobStore(where, tmp_path / "r", queue_max=100, max_history=1000)
    quality = store.submit(b"x", {"n": 0})[0].id
    claimed = []
    for i in range(8):  # a new live job (another session each time) arrives before every claim
        store.submit(b"x", {"live": i}, live_session=f"s{i}")
        job = store.claim_next("w")
        claimed.append("quality" if job.id == quality else "live")
        store.finish(job.id, JobStatus.SUCCEEDED, result={}, images=1)
    assert claimed[:4] == ["live", "live", "live", "quality"]  # live first, but at most 3 in a row
    store.close()
