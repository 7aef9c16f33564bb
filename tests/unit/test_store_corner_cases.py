"""The job store at its edges (jobs/store.py) with known answers: exact limits, messages and
Retry-After values, each transition's fields, pruning's count and order - written against the
mutants that survived tests/api/test_jobs.py (docs/mutation.md). SQLite in a temp folder, no app."""

from __future__ import annotations

import json

import pytest
from jobsdb import execute, lapse, scalar
from sqlalchemy.exc import ResourceClosedError

from sketch2render.errors import Conflict, IdempotencyConflict, NotFound, PrincipalQueueFull, QueueFull
from sketch2render.jobs.store import INPUT_NAME, MAX_ATTEMPTS, RESTART_REASON, JobStatus, JobStore


@pytest.fixture
def make(tmp_path, database_url):
    stores = []

    def build(**kwargs) -> JobStore:
        options = {"queue_max": 3, "max_history": 10, **kwargs}
        store = JobStore(database_url or tmp_path / "jobs.sqlite3", tmp_path / "renders", **options)
        stores.append(store)
        return store

    yield build
    for store in stores:
        store.close()


def durations(store: JobStore, *seconds: float) -> None:
    """Succeeded jobs that ran for these many seconds (oldest first)."""
    for s in seconds:
        job, _ = store.submit(b"x", {})
        store.claim_next("w")
        store.finish(job.id, JobStatus.SUCCEEDED)
        execute(store, "UPDATE jobs SET started_at = 100.0, finished_at = :t WHERE id = :id", t=100.0 + s, id=job.id)


def test_the_connection_settings_and_closing(make):
    store = make()
    if store.db_path is not None:  # SQLite's settings (PostgreSQL has none of them)
        assert scalar(store, "PRAGMA synchronous") == 1  # NORMAL
        assert scalar(store, "PRAGMA busy_timeout") == 10000
        assert scalar(store, "PRAGMA journal_mode") == "wal"
    assert not store.closed
    store.close()
    store.close()  # twice is fine
    assert store.closed
    with pytest.raises(ResourceClosedError, match="^the job store is closed$"):
        store.depth()


@pytest.mark.parametrize(("owner_max", "expected"), [(None, 3), (2, 2), (5, 3), (0, 3)])
def test_the_per_owner_cap_never_exceeds_the_queue(make, owner_max, expected):
    assert make(owner_max=owner_max).owner_max == expected


def test_a_submitted_job_has_its_params_sorted_its_steps_and_only_its_input_file(make):
    store = make()
    job, created = store.submit(b"bytes", {"steps": 7, "b": 1, "a": 2}, owner="alice")
    assert created and (job.status, job.total, job.step, job.attempts) == (JobStatus.QUEUED, 7, 0, 0)
    assert (job.owner, job.lane, job.live_session, job.worker_id) == ("alice", "quality", None, None)
    raw = scalar(store, "SELECT params FROM jobs WHERE id = :id", id=job.id)
    assert raw == json.dumps({"a": 2, "b": 1, "steps": 7})
    assert [p.name for p in store.job_dir(job.id).iterdir()] == [INPUT_NAME]
    assert store.submit(b"x", {})[0].total == 0


def test_an_idempotency_key_returns_the_same_job_and_a_different_request_is_refused(make):
    store = make()
    job, _ = store.submit(b"x", {}, idempotency_key="k1", request_hash="h1")
    again, created = store.submit(b"x", {}, idempotency_key="k1", request_hash="h1")
    assert (again.id, created) == (job.id, False)
    assert len(list(store.renders_dir.iterdir())) == 1
    with pytest.raises(IdempotencyConflict) as caught:
        store.submit(b"x", {}, idempotency_key="k1", request_hash="h2")
    assert caught.value.field == "Idempotency-Key"
    assert caught.value.message == "this Idempotency-Key was already used with a different request; use a new key"


def test_a_full_queue_says_how_full_and_when_to_retry(make):
    store = make(queue_max=2)
    store.submit(b"x", {})
    store.submit(b"x", {})
    with pytest.raises(QueueFull) as caught:
        store.submit(b"x", {})
    assert caught.value.message == "the render queue is full (2 jobs waiting); retry later"
    assert caught.value.retry_after == 5  # no finished render yet: 5 s
    assert len(list(store.renders_dir.iterdir())) == 2  # the refused input is not left behind
    store.claim_next("w")  # the running one does not count
    store.submit(b"x", {})


def test_an_owner_at_the_cap_is_told_the_cap_and_a_retry_per_waiting_owner(make):
    store = make(queue_max=10, owner_max=2)
    for owner in ("alice", "alice", "bob", "carol"):
        store.submit(b"x", {}, owner=owner)
    with pytest.raises(PrincipalQueueFull) as caught:
        store.submit(b"x", {}, owner="alice")
    assert caught.value.message == (
        "you have 2 renders waiting, the most one key may have (2); retry when one has started"
    )
    assert caught.value.retry_after == 15  # 5 s for each of the 3 owners waiting
    store.submit(b"x", {}, owner="bob")  # another owner still gets in
    store.submit(b"x", {})  # and so does a job without an owner


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [((), 5), ((2.2, 3.0), 3), ((0.1,), 1), ((0.0,), 1), ((4.0,), 4), ((4.01,), 5), ((5000.0,), 600)],
)
def test_retry_after_is_the_mean_recent_duration_rounded_up_between_1_and_600(make, seconds, expected):
    store = make(queue_max=50, max_history=50)
    durations(store, *seconds)
    assert store.retry_after() == expected


def test_retry_after_counts_only_the_last_20_succeeded_renders(make):
    store = make(queue_max=50, max_history=50)
    durations(store, *([100.0] * 5 + [2.0] * 20))
    assert store.retry_after() == 2
    failed, _ = store.submit(b"x", {})
    store.claim_next("w")
    store.finish(failed.id, JobStatus.FAILED)
    execute(store, "UPDATE jobs SET started_at = 0.0, finished_at = 500.0 WHERE id = :id", id=failed.id)
    assert store.retry_after() == 2


def test_bad_or_unknown_ids_are_the_same_404(make):
    store = make()
    for job_id in ("0" * 32, "../x", "ABC"):
        with pytest.raises(NotFound) as caught:
            store.get(job_id)
        assert (caught.value.field, caught.value.message) == ("id", f"no render with id {job_id!r}")
    with pytest.raises(NotFound, match="no render with id '../x'"):
        store.job_dir("../x")


def test_list_pages_newest_first_with_filters_and_totals(make):
    store = make(queue_max=10)
    ids = [store.submit(b"x", {}, owner=o)[0].id for o in ("alice", "bob", "alice", None)]
    store.claim_next("w")  # ids[0] (alice, never started first... the oldest)
    jobs, total = store.list()
    assert [j.id for j in jobs] == ids[::-1] and total == 4
    jobs, total = store.list(offset=1, limit=2)
    assert [j.id for j in jobs] == [ids[2], ids[1]] and total == 4
    jobs, total = store.list(owner="alice")
    assert [j.id for j in jobs] == [ids[2], ids[0]] and total == 2
    jobs, total = store.list(owner="alice", unowned=True)
    assert [j.id for j in jobs] == [ids[3], ids[2], ids[0]] and total == 3
    jobs, total = store.list(status=JobStatus.RUNNING)
    assert [j.id for j in jobs] == [ids[0]] and total == 1
    jobs, total = store.list(status=JobStatus.QUEUED, owner="alice")
    assert [j.id for j in jobs] == [ids[2]] and total == 1


def test_counts_depth_and_waiting_per_owner(make):
    store = make(queue_max=10)
    for owner in ("alice", "alice", "bob", None):
        store.submit(b"x", {}, owner=owner)
    store.claim_next("w")
    assert store.counts() == {"queued": 3, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert (store.depth(), store.depth("alice"), store.depth("bob"), store.depth("carol")) == (3, 1, 1, 0)
    assert store.queued_by_owner() == {"alice": 1, "bob": 1, "": 1}


def test_a_claim_records_the_worker_the_start_and_the_attempt(make):
    store = make()
    assert store.claim_next("w") is None
    job, _ = store.submit(b"x", {"steps": 4})
    claimed = store.claim_next("worker-1")
    assert (claimed.id, claimed.status, claimed.worker_id, claimed.attempts, claimed.step) == (
        job.id,
        JobStatus.RUNNING,
        "worker-1",
        1,
        0,
    )
    assert claimed.started_at is not None and claimed.started_at >= job.created_at
    assert store.set_progress(job.id, 3, 4) and store.get(job.id).step == 3
    assert store.set_worker(job.id, "replica-2") and store.get(job.id).worker_id == "replica-2"


def test_finishing_records_the_outcome_and_success_completes_the_steps(make):
    store = make(queue_max=5)
    good, _ = store.submit(b"x", {"steps": 8})
    bad, _ = store.submit(b"x", {"steps": 8})
    store.claim_next("w")
    store.claim_next("w")
    store.set_progress(good.id, 2, 8)
    store.set_progress(bad.id, 2, 8)
    assert store.finish(good.id, JobStatus.SUCCEEDED, result={"seed": 3}, images=2)
    assert store.finish(bad.id, JobStatus.FAILED, error=("oom", "out of memory"))
    good, bad = store.get(good.id), store.get(bad.id)
    assert (good.step, good.result, good.images, good.error_code, good.error_message) == (8, {"seed": 3}, 2, None, None)
    assert (bad.step, bad.result, bad.images, bad.error_code, bad.error_message) == (2, None, 0, "oom", "out of memory")
    assert good.finished_at is not None and bad.finished_at is not None
    with pytest.raises(ValueError) as caught:
        store.finish(good.id, JobStatus.QUEUED)
    assert str(caught.value) == "finish() needs a terminal status, got queued"
    assert not store.set_worker(good.id, "late")


def test_cancelling_a_queued_a_running_and_a_finished_job(make):
    store = make(queue_max=5)
    running, _ = store.submit(b"x", {})
    queued, _ = store.submit(b"x", {})
    store.claim_next("w")
    now = store.cancel(queued.id)
    assert (now.status, now.cancel_requested) == (JobStatus.CANCELLED, True) and now.finished_at is not None
    flagged = store.cancel(running.id)
    assert (flagged.status, flagged.cancel_requested, flagged.finished_at) == (JobStatus.RUNNING, True, None)
    with pytest.raises(Conflict) as caught:
        store.cancel(queued.id)
    assert caught.value.field == "id"
    assert caught.value.message == f"render {queued.id} already ended (cancelled); nothing to cancel"


def test_a_requeue_gives_the_attempt_back_and_clears_the_run(make):
    store = make()
    job, _ = store.submit(b"x", {"steps": 4})
    store.claim_next("w")
    store.set_progress(job.id, 2, 4)
    assert store.requeue(job.id)
    again = store.get(job.id)
    assert (again.status, again.attempts, again.step, again.worker_id, again.started_at) == (
        JobStatus.QUEUED,
        0,
        0,
        None,
        None,
    )
    assert not store.requeue(job.id)  # not running
    execute(store, "UPDATE jobs SET status = 'running', attempts = 0 WHERE id = :id", id=job.id)
    assert store.requeue(job.id) and store.get(job.id).attempts == 0  # never below 0
    store.claim_next("w")
    store.cancel(job.id)
    assert not store.requeue(job.id)
    ended = store.get(job.id)
    assert ended.status == JobStatus.CANCELLED and ended.finished_at is not None


def test_recovery_requeues_first_attempts_fails_the_last_and_keeps_cancels(make):
    store = make(queue_max=5)
    first, second, cancelled, waiting = (store.submit(b"x", {})[0] for _ in range(4))
    for _ in range(3):
        store.claim_next("w")
    execute(store, "UPDATE jobs SET attempts = :n WHERE id = :id", n=MAX_ATTEMPTS, id=second.id)
    store.cancel(cancelled.id)
    lapse(store, first.id, second.id, cancelled.id)  # their process crashed: nobody renews their leases
    assert MAX_ATTEMPTS == 2
    assert store.recover() == {"requeued": 1, "failed": 1}
    first, second, cancelled, waiting = (store.get(j.id) for j in (first, second, cancelled, waiting))
    assert (first.status, first.worker_id, first.started_at, first.attempts) == (JobStatus.QUEUED, None, None, 1)
    assert (second.status, second.error_code, second.error_message) == (JobStatus.FAILED, "interrupted", RESTART_REASON)
    assert second.finished_at is not None
    assert cancelled.status == JobStatus.CANCELLED and cancelled.finished_at is not None
    assert waiting.status == JobStatus.QUEUED
    assert store.recover() == {"requeued": 0, "failed": 0}


def test_prune_drops_exactly_the_excess_oldest_finished_jobs_and_their_files(make):
    store = make(queue_max=10, max_history=3)
    jobs = [store.submit(b"x", {})[0] for _ in range(5)]
    assert store.prune() == 0  # 5 rows over 3, but none has finished
    for _ in jobs[1:3]:
        store.claim_next("w")
    execute(store, "UPDATE jobs SET status = 'succeeded' WHERE id IN (:a, :b)", a=jobs[0].id, b=jobs[2].id)
    execute(store, "UPDATE jobs SET status = 'failed' WHERE id = :id", id=jobs[1].id)
    assert store.prune() == 2  # the excess is 2: jobs 0 and 1 go, finished job 2 stays
    assert [j.id for j in store.list()[0]] == [j.id for j in jobs[2:][::-1]]
    assert sorted(p.name for p in store.renders_dir.iterdir()) == sorted(j.id for j in jobs[2:])
    assert store.prune() == 0
    execute(store, "UPDATE jobs SET status = 'cancelled' WHERE id = :id", id=jobs[3].id)
    assert store.prune() == 0  # exactly max_history rows: nothing to drop


def test_finishing_a_job_prunes_the_history(make):
    store = make(queue_max=10, max_history=2)
    jobs = [store.submit(b"x", {})[0] for _ in range(3)]
    store.claim_next("w")
    assert store.finish(jobs[0].id, JobStatus.SUCCEEDED)
    assert [j.id for j in store.list()[0]] == [jobs[2].id, jobs[1].id]
    assert not (store.renders_dir / jobs[0].id).exists()


def test_a_page_holds_50_jobs_by_default(make):
    store = make(queue_max=60)
    for _ in range(51):
        store.submit(b"x", {})
    jobs, total = store.list()
    assert (len(jobs), total) == (50, 51)


def test_the_store_creates_its_folders_with_their_parents(tmp_path):
    store = JobStore(
        tmp_path / "a" / "b" / "jobs.sqlite3", tmp_path / "c" / "d" / "renders", queue_max=2, max_history=5
    )
    job, _ = store.submit(b"x", {})
    assert (tmp_path / "c" / "d" / "renders" / job.id / INPUT_NAME).read_bytes() == b"x"
    with pytest.raises(NotFound) as caught:
        store.job_dir("../x")
    assert caught.value.field == "id"
    store.close()


def test_one_waiting_owner_retries_after_one_render_and_never_after_600_s(make):
    store = make(queue_max=10, owner_max=1)
    store.submit(b"x", {}, owner="alice")
    with pytest.raises(PrincipalQueueFull) as caught:
        store.submit(b"x", {}, owner="alice")
    assert caught.value.retry_after == 5  # one owner waiting: one mean render
    execute(store, "UPDATE jobs SET started_at = 0.0, finished_at = 400.0, status = 'succeeded'")
    store.submit(b"x", {}, owner="alice")
    store.submit(b"x", {}, owner="bob")
    with pytest.raises(PrincipalQueueFull) as caught:
        store.submit(b"x", {}, owner="alice")
    assert caught.value.retry_after == 600  # 400 s x 2 owners, capped


def test_a_live_render_supersedes_only_its_own_sessions_queued_one(make):
    store = make(queue_max=10)
    old, _ = store.submit(b"x", {}, owner="alice", live_session="s1")
    other_session, _ = store.submit(b"x", {}, owner="alice", live_session="s2")
    other_owner, _ = store.submit(b"x", {}, owner="bob", live_session="s1")
    quality, _ = store.submit(b"x", {}, owner="alice")
    new, _ = store.submit(b"x", {}, owner="alice", live_session="s1")
    ended = store.get(old.id)
    assert ended.status == JobStatus.CANCELLED and ended.error_code == "superseded"
    assert [store.get(j.id).status for j in (other_session, other_owner, quality, new)] == [JobStatus.QUEUED] * 4


def test_live_sessions_are_capped_at_8_by_default_and_a_known_session_goes_on(make):
    store = make(queue_max=20)
    for i in range(8):
        store.submit(b"x", {}, owner="alice", live_session=f"s{i}")
    with pytest.raises(QueueFull, match="8 live sessions are rendering"):
        store.submit(b"x", {}, owner="alice", live_session="s8")
    with pytest.raises(QueueFull):
        store.submit(b"x", {}, owner="bob", live_session="s0")  # the same name, another owner: a new session
    store.submit(b"x", {}, owner="alice", live_session="s3")  # a session already rendering: not a new one
    assert store.counts()["queued"] == 8
