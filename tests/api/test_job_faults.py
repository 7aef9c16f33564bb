"""Faults a job survives without a restart, with real blocking and a real SQLite store: a render
that hangs (one that honours cancel, one that ignores it), a store that cannot record a job's end
or hand out the next job for a while, and a running job whose lease lapsed."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from builders import make_settings
from jobsdb import execute
from waiting import eventually

from api.conftest import sketch_png, submit, wait_for
from api.fakes import FakeRenderService
from sketch2render.config import JobLimits
from sketch2render.jobs import JobStatus, JobStore, JobWorker, JobWorkerPool, LocalExecutor
from sketch2render.jobs.outcomes import OUTPUTS_LOST
from sketch2render.render.outputs import image_paths

PARAMS = {"prompt": "a red house", "steps": 3, "size": 64, "seed": 7}
DISK_FULL = "database or disk is full"


class StuckService(FakeRenderService):
    """Its first render blocks until `stuck` is set and ignores cancel (a deadlocked library)."""

    def __init__(self, settings, **kwargs) -> None:
        super().__init__(settings, **kwargs)
        self.stuck = threading.Event()
        self._first = True

    def render(self, sketch, params, **kwargs):
        if self._first:
            self._first = False
            self.started.set()
            self.stuck.wait()
        return super().render(sketch, params, **kwargs)


class FlakyStore(JobStore):
    """Our store with a fault switched on from the test: `finish` and `claim_next` raise SQLite's
    "disk full" while their counters are above zero (-1: until switched off)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.finish_faults = 0
        self.claim_faults = 0
        self.failed_finishes = 0
        self.queued_while_failing: set[str] = set()  # statuses of the other jobs meanwhile

    def finish(self, job_id, status, **kwargs):
        if self.finish_faults:
            self.finish_faults -= self.finish_faults > 0
            self.failed_finishes += 1
            self.queued_while_failing |= {str(job.status) for job in self.list()[0] if job.id != job_id}
            raise sqlite3.OperationalError(DISK_FULL)
        return super().finish(job_id, status, **kwargs)

    def claim_next(self, worker_id, lease_s=60.0):
        if self.claim_faults:
            self.claim_faults -= self.claim_faults > 0
            raise sqlite3.OperationalError(DISK_FULL)
        return super().claim_next(worker_id, lease_s)


@pytest.fixture
def setup(tmp_path):
    """A store, a fake service and a worker over them (started by the test); stopped at teardown."""
    made: list[JobWorker] = []
    settings = make_settings(tmp_path / "home")
    store = FlakyStore(settings.jobs_db, settings.renders_dir, queue_max=8, max_history=100)

    def build(service: FakeRenderService | None = None, limits: JobLimits = JobLimits()):
        service = service or FakeRenderService(settings)
        worker = JobWorker(store, LocalExecutor(lambda: service), poll_interval=0.05, limits=limits)
        made.append(worker)
        return worker, service

    yield store, build
    for worker in made:
        worker.stop(1.0)
    store.close()


def ended(store: JobStore, job_id: str, timeout: float = 10.0):
    return eventually(lambda: (job := store.get(job_id)).terminal and job, timeout, what=lambda: store.get(job_id))


# --- a render that hangs -----------------------------------------------------------------------
def test_a_hung_render_fails_with_the_reason_and_the_next_job_runs(harness):
    gate = threading.Event()  # never opened for the first render: it hangs, honouring cancel
    client, fake = harness.client(service=FakeRenderService(harness.settings(), gate=gate), render_timeout=1.0)
    first = submit(client).json()["id"]
    second = submit(client, prompt="the next one").json()["id"]
    hung = wait_for(client, first, timeout=10)
    gate.set()
    assert hung["status"] == "failed" and hung["error"]["code"] == "render_timeout"
    assert "time limit of 1s" in hung["error"]["message"] and "S2R_RENDER_TIMEOUT" in hung["error"]["message"]
    assert wait_for(client, second)["status"] == "succeeded"


def test_a_render_that_ignores_cancel_is_left_behind_and_its_late_result_discarded(setup):
    store, build = setup
    settings = make_settings(store.db_path.parent)
    worker, fake = build(StuckService(settings), JobLimits(render_timeout_s=0.5))
    first, _ = store.submit(sketch_png(), PARAMS)
    second, _ = store.submit(sketch_png(), {**PARAMS, "prompt": "the next one"})
    worker.start()
    t0 = time.monotonic()
    assert ended(store, first.id).error_code == "render_timeout"
    assert time.monotonic() - t0 < 5  # the limit and as long again to stop, not the stuck render
    assert ended(store, second.id).status == JobStatus.SUCCEEDED  # on a fresh render thread
    fake.stuck.set()  # the deadlock clears: the old thread's late render is cancelled, nothing kept
    time.sleep(0.3)
    late = store.get(first.id)
    assert (late.status, late.error_code) == (JobStatus.FAILED, "render_timeout")
    assert not any(path.exists() for path in image_paths(store.job_dir(first.id), 1))


def test_a_cancelled_render_that_does_not_stop_is_left_behind_and_the_next_job_runs(setup, monkeypatch):
    monkeypatch.setattr("sketch2render.jobs.worker.CANCEL_GRACE_S", 0.5)  # how long it may take to stop
    store, build = setup
    worker, fake = build(StuckService(make_settings(store.db_path.parent)))
    first, _ = store.submit(sketch_png(), PARAMS)
    second, _ = store.submit(sketch_png(), {**PARAMS, "prompt": "the next one"})
    worker.start()
    assert fake.started.wait(5)
    worker.cancel(first.id)
    assert ended(store, first.id, timeout=5).status == JobStatus.CANCELLED
    assert ended(store, second.id).status == JobStatus.SUCCEEDED
    fake.stuck.set()


def test_the_render_time_limit_is_a_setting_with_per_preset_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("S2R_RENDER_TIMEOUT", "600")
    monkeypatch.setenv("S2R_RENDER_TIMEOUT_LIVE", "30")
    monkeypatch.setenv("S2R_JOB_LEASE_S", "20")
    limits = make_settings(tmp_path).job_limits
    assert (limits.render_timeout("quality"), limits.render_timeout("fast"), limits.render_timeout("live")) == (
        600,
        600,
        30,
    )
    assert limits.lease_s == 20 and JobLimits().render_timeout("quality") == 1800


# --- a store that cannot record an end, or hand out the next job ------------------------------------
def test_an_end_the_store_cannot_record_is_recorded_once_it_can_and_no_other_job_starts_meanwhile(setup):
    store, build = setup
    worker, _ = build()
    store.finish_faults = 3
    first, _ = store.submit(sketch_png(), PARAMS)
    second, _ = store.submit(sketch_png(), PARAMS | {"seed": 8})
    worker.start()
    assert ended(store, first.id).status == JobStatus.SUCCEEDED
    assert ended(store, second.id).status == JobStatus.SUCCEEDED
    assert store.failed_finishes == 3 and store.queued_while_failing == {"queued"}


def test_an_end_whose_images_went_meanwhile_is_recorded_as_failed_with_the_reason(setup):
    store, build = setup
    worker, _ = build()
    store.finish_faults = -1  # until the test switches it off
    job, _ = store.submit(sketch_png(), PARAMS)
    worker.start()
    eventually(lambda: store.failed_finishes >= 1)
    assert store.get(job.id).status == JobStatus.RUNNING and worker.current_job == job.id
    for path in image_paths(store.job_dir(job.id), 1):  # the operator freed space by deleting renders
        path.unlink()
    store.finish_faults = 0
    failed = ended(store, job.id)
    assert (failed.status, failed.error_code, failed.error_message) == (JobStatus.FAILED, "outputs_lost", OUTPUTS_LOST)


def test_a_stop_is_noticed_while_an_end_cannot_be_recorded(setup):
    store, build = setup
    worker, _ = build()
    store.finish_faults = -1
    job, _ = store.submit(sketch_png(), PARAMS)
    worker.start()
    eventually(lambda: store.failed_finishes >= 2)
    t0 = time.monotonic()
    worker.stop(5.0)
    assert time.monotonic() - t0 < 2 and not worker.alive
    assert store.get(job.id).status == JobStatus.RUNNING  # the next start's recovery runs it again


def test_claim_errors_are_reported_until_a_claim_works_again(setup):
    store, build = setup
    worker, _ = build()
    store.claim_faults = -1
    before = worker.last_claim_ok
    worker.start()
    eventually(lambda: worker.claim_error)
    assert worker.claim_error == f"OperationalError: {DISK_FULL}" and worker.alive
    job, _ = store.submit(sketch_png(), PARAMS)
    time.sleep(0.2)
    assert store.get(job.id).status == JobStatus.QUEUED
    store.claim_faults = 0
    assert ended(store, job.id).status == JobStatus.SUCCEEDED
    assert worker.claim_error is None and worker.last_claim_ok > before


def test_a_pool_reports_the_claim_error_of_its_workers(setup):
    store, _ = setup
    service = FakeRenderService(make_settings(store.db_path.parent))
    pool = JobWorkerPool(store, LocalExecutor(lambda: service), slots=2, poll_interval=0.05)
    store.claim_faults = -1
    pool.start()
    try:
        assert eventually(lambda: pool.claim_error) == f"OperationalError: {DISK_FULL}"
        failing_since = pool.last_claim_ok
        store.claim_faults = 0
        eventually(lambda: pool.claim_error is None)
        assert pool.last_claim_ok > failing_since
    finally:
        pool.stop(1.0)


# --- leases ------------------------------------------------------------------------------------------
def _lapse(store: JobStore, job_id: str) -> None:
    execute(store, "UPDATE jobs SET lease_until = :t WHERE id = :id", t=time.time() - 1, id=job_id)


def test_a_job_whose_worker_is_gone_is_requeued_when_its_lease_lapses_and_runs_again(setup):
    store, build = setup
    worker, fake = build()
    job, _ = store.submit(sketch_png(), PARAMS)
    assert store.claim_next("this-process:gone-thread").id == job.id  # its worker thread died
    worker.start()
    time.sleep(0.2)
    assert store.get(job.id).status == JobStatus.RUNNING and not fake.calls  # its lease still runs
    _lapse(store, job.id)
    done = ended(store, job.id)
    assert (done.status, done.attempts, done.worker_id, len(fake.calls)) == (
        JobStatus.SUCCEEDED,
        2,
        worker.worker_id,
        1,
    )


def test_a_running_job_whose_lease_lapsed_is_stopped_requeued_and_run_again(setup):
    store, build = setup
    gate = threading.Event()
    worker, fake = build(FakeRenderService(make_settings(store.db_path.parent), gate=gate))
    job, _ = store.submit(sketch_png(), PARAMS)
    worker.start()
    assert fake.started.wait(5)
    _lapse(store, job.id)  # as if its worker had hung past the lease
    eventually(lambda: len(fake.calls) == 2, what=lambda: store.get(job.id))
    again = store.get(job.id)
    assert (again.status, again.attempts, again.lease_owner) == (JobStatus.RUNNING, 2, worker.worker_id)
    gate.set()
    assert ended(store, job.id).status == JobStatus.SUCCEEDED


def test_the_lease_is_renewed_while_a_long_render_runs(setup):
    store, build = setup
    gate = threading.Event()
    worker, fake = build(FakeRenderService(make_settings(store.db_path.parent), gate=gate), JobLimits(lease_s=1.2))
    job, _ = store.submit(sketch_png(), PARAMS)
    worker.start()
    assert fake.started.wait(5)
    first = store.get(job.id).lease_until
    time.sleep(2.0)  # longer than the lease: only renewals keep it
    held = store.get(job.id)
    assert (held.status, held.attempts) == (JobStatus.RUNNING, 1) and held.lease_until > first
    assert held.lease_until > time.time()
    gate.set()
    assert ended(store, job.id).status == JobStatus.SUCCEEDED
