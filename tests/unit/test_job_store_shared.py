"""Several API processes on one PostgreSQL database (each a `JobStore` with its own engine, as a
process has): a job is claimed by exactly one of them, start-up recovery takes over only the jobs
whose holder is gone, and a duplicate Idempotency-Key that slips past the check returns the job
that won instead of an error."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from jobsdb import lapse

from sketch2render.jobs import admission
from sketch2render.jobs.store import JobStatus, JobStore

JOBS = 40


@pytest.fixture
def stores(postgres_url, tmp_path):
    """Two processes' views of one PostgreSQL database (and their shared data folder)."""
    made = [
        JobStore(postgres_url, tmp_path / "renders", queue_max=100, max_history=1000, owner_max=100) for _ in range(2)
    ]
    yield made
    for store in made:
        store.close()


def test_concurrent_claims_from_two_processes_take_each_job_exactly_once(stores):
    first, second = stores
    ids = {first.submit(b"x", {"n": i}, owner=f"owner{i % 3}")[0].id for i in range(JOBS)}
    claimed: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def claim(store: JobStore, worker: str) -> None:
        start.wait()
        try:
            while (job := store.claim_next(worker)) is not None or store.depth():  # None: all taken, or locked
                if job is not None:
                    claimed.append((job.id, worker))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [
        threading.Thread(target=claim, args=(store, f"p{p}-t{t}")) for p, store in enumerate(stores) for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and not any(thread.is_alive() for thread in threads)
    times = Counter(job_id for job_id, _ in claimed)
    assert set(times) == ids and set(times.values()) == {1}  # every job, each exactly once
    holders = {job_id: worker for job_id, worker in claimed}
    assert all(second.get(i).lease_owner == holders[i] and second.get(i).attempts == 1 for i in ids)
    assert {worker.split("-")[0] for worker in holders.values()} == {"p0", "p1"}  # both processes took jobs


def test_recovery_at_start_leaves_a_live_process_job_and_takes_over_a_lapsed_one(stores):
    first, second = stores
    job, _ = first.submit(b"x", {})
    assert first.claim_next("first-worker", lease_s=60).id == job.id
    assert second.recover() == {"requeued": 0, "failed": 0}  # the first process renews its lease
    assert (second.get(job.id).status, second.get(job.id).lease_owner) == (JobStatus.RUNNING, "first-worker")
    lapse(first, job.id)  # the first process was killed: nobody renews it
    assert second.recover() == {"requeued": 1, "failed": 0}
    taken = second.claim_next("second-worker")
    assert (taken.id, taken.attempts, taken.lease_owner) == (job.id, 2, "second-worker")
    assert not first.finish(job.id, JobStatus.SUCCEEDED, owner="first-worker")  # the old holder's end is refused
    assert second.finish(job.id, JobStatus.SUCCEEDED, owner="second-worker")


def test_concurrent_submissions_with_one_idempotency_key_store_one_job(stores):
    results: list[tuple[str, bool]] = []
    start = threading.Barrier(6)

    def submit(store: JobStore) -> None:
        start.wait()
        job, created = store.submit(b"x", {"n": 1}, idempotency_key="k", request_hash="h")
        results.append((job.id, created))

    threads = [threading.Thread(target=submit, args=(stores[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6 and len({job_id for job_id, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert stores[0].depth() == 1


def test_a_duplicate_key_that_slips_past_the_check_returns_the_job_that_won(tmp_path, database_url, monkeypatch):
    store = JobStore(database_url or tmp_path / "jobs.sqlite3", tmp_path / "renders", queue_max=5, max_history=10)
    won, _ = store.submit(b"x", {"n": 1}, idempotency_key="k", request_hash="h")
    real, calls = admission.by_key, []

    def late(*args):  # the early check and the one in the transaction ran before `won` was stored
        calls.append(args)
        return None if len(calls) <= 2 else real(*args)

    monkeypatch.setattr(admission, "by_key", late)
    again, created = store.submit(b"x", {"n": 1}, idempotency_key="k", request_hash="h")
    assert (again.id, created) == (won.id, False) and len(calls) == 3  # the insert failed: read again
    assert store.depth() == 1 and {p.name for p in store.renders_dir.iterdir()} == {won.id}  # no stray input
    store.close()


def test_fair_share_and_the_live_streak_hold_across_processes(stores):
    first, second = stores
    for owner, n in [("a", 3), ("b", 1)]:
        for i in range(n):
            first.submit(b"x", {"prompt": f"{owner}{i}"}, owner=owner)
    order = [first.claim_next("w1").params["prompt"], second.claim_next("w2").params["prompt"]]
    assert order == ["a0", "b0"]  # the second process knows who started last
    lives = [second.submit(b"x", {"live": i}, owner="c", live_session=f"s{i}")[0].id for i in range(4)]
    claimed = [store.claim_next("w") for store in (first, second, first, second)]
    assert [job.id for job in claimed[:3]] == lives[:3]  # live first, taken in turns by both processes
    assert claimed[3].params["prompt"] == "a1"  # then the waiting quality job: three live ones in a row at most
