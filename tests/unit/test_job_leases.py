"""A running job's lease in the store (schema version 6): a claim takes it, its holder renews it,
only its holder records the job's end, and a lapsed one sends the job back to the queue (or fails
it once its attempts are used), keeping a cancel that was asked for."""

from __future__ import annotations

import sqlite3
import time

import pytest
from jobsdb import SCHEMA, SCHEMA_VERSION, execute, lapse

from sketch2render.jobs.leases import LEASE_REASON, MAX_ATTEMPTS
from sketch2render.jobs.store import JobStatus, JobStore


@pytest.fixture
def store(tmp_path, database_url):
    s = JobStore(database_url or tmp_path / "jobs.sqlite3", tmp_path / "renders", queue_max=8, max_history=100)
    yield s
    s.close()


def test_a_claim_takes_the_lease_and_only_its_holder_renews_it(store):
    job, _ = store.submit(b"x", {})
    before = time.time()
    claimed = store.claim_next("w1", lease_s=30)
    assert (claimed.lease_owner, claimed.worker_id) == ("w1", "w1")
    assert before + 30 <= claimed.lease_until <= time.time() + 30
    assert store.renew_lease(job.id, "w1", 90) and store.get(job.id).lease_until >= before + 90
    assert not store.renew_lease(job.id, "w2", 90)
    assert store.set_worker(job.id, "replica-1") and store.renew_lease(job.id, "w1", 90)  # a Ray replica runs it
    assert store.finish(job.id, JobStatus.SUCCEEDED, owner="w1")
    ended = store.get(job.id)
    assert ended.lease_until is None and not store.renew_lease(job.id, "w1", 90)


def test_only_the_lease_holder_records_the_end(store):
    job, _ = store.submit(b"x", {})
    store.claim_next("w1")
    assert not store.finish(job.id, JobStatus.SUCCEEDED, owner="w2")
    assert store.get(job.id).status == JobStatus.RUNNING
    assert store.finish(job.id, JobStatus.FAILED, error=("boom", "it broke"), owner="w1")


def test_lapsed_leases_requeue_fail_after_the_attempts_and_keep_cancels(store):
    requeued, spent, cancelled, held = (store.submit(b"x", {})[0] for _ in range(4))
    for _ in range(4):
        store.claim_next("w")
    execute(store, "UPDATE jobs SET attempts = :n WHERE id = :id", n=MAX_ATTEMPTS, id=spent.id)
    store.cancel(cancelled.id)
    assert store.expire_leases() == []  # none lapsed
    lapse(store, requeued.id, spent.id, cancelled.id)
    assert sorted(store.expire_leases()) == sorted([requeued.id, spent.id, cancelled.id])
    requeued, spent, cancelled, held = (store.get(j.id) for j in (requeued, spent, cancelled, held))
    assert (requeued.status, requeued.attempts, requeued.lease_owner, requeued.worker_id) == (
        JobStatus.QUEUED,
        1,
        None,
        None,
    )
    assert (spent.status, spent.error_code, spent.error_message) == (JobStatus.FAILED, "interrupted", LEASE_REASON)
    assert cancelled.status == JobStatus.CANCELLED and held.status == JobStatus.RUNNING
    assert store.claim_next("w2").id == requeued.id  # kept its place
    assert not store.finish(requeued.id, JobStatus.SUCCEEDED, owner="w")  # the first holder's end is refused


def test_a_requeue_and_a_recovery_clear_the_lease(store):
    a, _ = store.submit(b"x", {})
    b, _ = store.submit(b"x", {})
    store.claim_next("w")
    store.claim_next("w")
    assert store.requeue(a.id)
    lapse(store, b.id)  # its process crashed
    assert store.recover() == {"requeued": 1, "failed": 0}
    for job in (store.get(a.id), store.get(b.id)):
        assert (job.status, job.lease_owner, job.lease_until) == (JobStatus.QUEUED, None, None)


def test_a_version_5_database_gains_the_lease_and_its_running_rows_wait_for_recovery(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    columns = SCHEMA.split("    lease_until ")[0].rstrip().splitlines()
    columns[-1] = columns[-1].replace(",", "", 1)  # the column before them ends the table now
    old_schema = "\n".join(columns) + "\n);"
    with sqlite3.connect(db) as conn:
        conn.executescript(old_schema)
        conn.execute("INSERT INTO jobs (id, status, params, created_at) VALUES (?, 'running', '{}', 1.0)", ("a" * 32,))
        conn.execute("PRAGMA user_version = 5")
    store = JobStore(db, tmp_path / "renders", queue_max=5, max_history=10)
    old = store.get("a" * 32)
    assert (old.status, old.lease_owner, old.lease_until) == (JobStatus.RUNNING, None, None)
    assert store.expire_leases() == []  # no lease to lapse: recovery at start handles it
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    store.close()


def test_on_a_sqlite_file_recovery_takes_every_running_job_lapsed_or_not(tmp_path):
    """One process owns a SQLite file: at its start, nothing else can be running its jobs."""
    store = JobStore(tmp_path / "jobs.sqlite3", tmp_path / "renders", queue_max=5, max_history=10)
    job, _ = store.submit(b"x", {})
    store.claim_next("w", lease_s=600)
    assert store.recover() == {"requeued": 1, "failed": 0}
    assert store.get(job.id).status == JobStatus.QUEUED
    store.close()
