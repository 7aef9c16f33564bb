"""Deferred quality scores in the job store (jobs/deferred_scores.py): recorded once, and never
awaited forever after a restart."""

from __future__ import annotations

from jobsdb import execute

from sketch2render.jobs import JobStatus, JobStore, deferred_scores
from sketch2render.jobs.store import STALE_SCORES_S


def _succeeded_with_pending_scores(store: JobStore) -> str:
    job, _ = store.submit(b"sketch", {"prompt": "x"})
    assert store.claim_next("w").id == job.id
    store.finish(job.id, JobStatus.SUCCEEDED, result={"seed": 1, "scores": []}, images=1, scores_pending=True)
    assert store.get(job.id).scores_pending
    return job.id


def test_scores_are_recorded_and_the_flag_goes(tmp_path, database_url):
    where = database_url or tmp_path / "j.sqlite3"
    store = JobStore(where, tmp_path / "r", queue_max=10, max_history=10)
    job_id = _succeeded_with_pending_scores(store)
    pending = deferred_scores.PendingScores(lambda: {"seed": 1, "scores": [{"f1": 0.4}]})
    assert deferred_scores.run(store, job_id, pending, store.get(job_id).result)["scores"] == [{"f1": 0.4}]
    assert store.get(job_id).result == {"seed": 1, "scores": [{"f1": 0.4}]}
    assert not store.get(job_id).scores_pending


def test_failed_scoring_keeps_the_images_and_clears_the_flag(tmp_path, database_url):
    where = database_url or tmp_path / "j.sqlite3"
    store = JobStore(where, tmp_path / "r", queue_max=10, max_history=10)
    job_id = _succeeded_with_pending_scores(store)

    def broken() -> dict:
        raise RuntimeError("CLIP fell over")

    deferred_scores.run(store, job_id, deferred_scores.PendingScores(broken), store.get(job_id).result)
    job = store.get(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.images == 1 and not job.scores_pending


def test_a_restart_clears_scores_that_will_not_come(tmp_path, database_url):
    where = database_url or tmp_path / "j.sqlite3"
    store = JobStore(where, tmp_path / "r", queue_max=10, max_history=10)
    job_id = _succeeded_with_pending_scores(store)
    store.close()
    reopened = JobStore(where, tmp_path / "r", queue_max=10, max_history=10)
    if database_url:  # a shared database: another process may be scoring it right now
        assert deferred_scores.clear_stale(reopened) == 0 and reopened.get(job_id).scores_pending
        execute(reopened, "UPDATE jobs SET finished_at = finished_at - :s", s=STALE_SCORES_S + 1)
    assert deferred_scores.clear_stale(reopened) == 1
    assert reopened.get(job_id).result == {"seed": 1, "scores": []} and deferred_scores.clear_stale(reopened) == 0
    assert not reopened.get(job_id).scores_pending


def test_the_scorer_runs_in_order_survives_a_failure_and_finishes_what_is_queued_at_stop():
    done: list[int] = []

    def broken() -> None:
        raise RuntimeError("CLIP fell over")

    scorer = deferred_scores.DeferredScorer(backlog=2)
    scorer.submit(lambda: done.append(1))
    scorer.submit(broken)
    scorer.submit(lambda: done.append(2))
    scorer.submit(lambda: done.append(3))
    assert scorer.stop(timeout=10)
    assert done == [1, 2, 3]
    assert deferred_scores.DeferredScorer().stop(timeout=0)  # never used: nothing to stop


def test_a_database_from_before_the_column_keeps_its_pending_scores(tmp_path):
    """Version 4 kept "scores pending" as a key of the result JSON: the migration moves it to the column."""
    store = JobStore(tmp_path / "j.sqlite3", tmp_path / "r", queue_max=10, max_history=10)
    pending, done = (store.submit(b"sketch", {"prompt": p})[0].id for p in ("a", "b"))
    for job_id, result in ((pending, {"seed": 1, "metrics": [], "scores_pending": True}), (done, {"seed": 2})):
        assert store.claim_next("w").id == job_id
        store.finish(job_id, JobStatus.SUCCEEDED, result=result, images=1)
    execute(store, "ALTER TABLE jobs DROP COLUMN scores_pending")  # a file from before migrations
    execute(store, "DROP TABLE alembic_version_jobs")
    execute(store, "PRAGMA user_version = 4")
    store.close()
    reopened = JobStore(tmp_path / "j.sqlite3", tmp_path / "r", queue_max=10, max_history=10)
    assert reopened.get(pending).scores_pending and reopened.get(pending).result == {"seed": 1, "metrics": []}
    assert not reopened.get(done).scores_pending and reopened.get(done).result == {"seed": 2}
    assert deferred_scores.clear_stale(reopened) == 1 and not reopened.get(pending).scores_pending
