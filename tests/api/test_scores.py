"""Deferred quality scores in the job store (jobs/scores.py): recorded once, and never awaited
forever after a restart."""

from __future__ import annotations

from sketch2render.jobs import JobStatus, JobStore, scores


def _succeeded_with_pending_scores(store: JobStore) -> str:
    job, _ = store.submit(b"sketch", {"prompt": "x"})
    assert store.claim_next("w").id == job.id
    store.finish(job.id, JobStatus.SUCCEEDED, result={"seed": 1, "metrics": [], scores.PENDING: True}, images=1)
    assert scores.pending(store.get(job.id).result)
    return job.id


def test_scores_are_recorded_and_the_flag_goes(tmp_path):
    store = JobStore(tmp_path / "j.sqlite3", tmp_path / "r", queue_max=10, max_history=10)
    job_id = _succeeded_with_pending_scores(store)
    deferred = scores.DeferredScores(lambda: {"seed": 1, "metrics": [{"f1": 0.4}]})
    assert scores.run(store, job_id, deferred, store.get(job_id).result)["metrics"] == [{"f1": 0.4}]
    assert store.get(job_id).result == {"seed": 1, "metrics": [{"f1": 0.4}]}


def test_failed_scoring_keeps_the_images_and_clears_the_flag(tmp_path):
    store = JobStore(tmp_path / "j.sqlite3", tmp_path / "r", queue_max=10, max_history=10)
    job_id = _succeeded_with_pending_scores(store)

    def broken() -> dict:
        raise RuntimeError("CLIP fell over")

    scores.run(store, job_id, scores.DeferredScores(broken), store.get(job_id).result)
    job = store.get(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.images == 1 and not scores.pending(job.result)


def test_a_restart_clears_scores_that_will_not_come(tmp_path):
    store = JobStore(tmp_path / "j.sqlite3", tmp_path / "r", queue_max=10, max_history=10)
    job_id = _succeeded_with_pending_scores(store)
    store.close()
    reopened = JobStore(tmp_path / "j.sqlite3", tmp_path / "r", queue_max=10, max_history=10)
    assert scores.clear_stale(reopened) == 1
    assert reopened.get(job_id).result == {"seed": 1, "metrics": []} and scores.clear_stale(reopened) == 0


def test_the_score_line_runs_in_order_survives_a_failure_and_finishes_what_is_queued_at_stop():
    done: list[int] = []

    def broken() -> None:
        raise RuntimeError("CLIP fell over")

    line = scores.ScoreLine(backlog=2)
    line.submit(lambda: done.append(1))
    line.submit(broken)
    line.submit(lambda: done.append(2))
    line.submit(lambda: done.append(3))
    assert line.stop(timeout=10)
    assert done == [1, 2, 3]
    assert scores.ScoreLine().stop(timeout=0)  # never used: nothing to stop
