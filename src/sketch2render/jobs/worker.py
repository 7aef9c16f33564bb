"""The job worker: one thread that takes queued jobs in order and runs them through an `Executor`
(executor.py: in this process, or on Ray Serve replicas, scale/ray_backend.py). The queue and
the store stay the same whichever runs the job. Cancellation is cooperative: the service checks
an Event between steps.

Faults the worker lives through without a restart:
- a render runs on a thread of its own (runner.py) while the worker renews the job's lease
  (leases.py); past its time limit (`JobLimits`: S2R_RENDER_TIMEOUT, per speed preset) the job fails
  with `render_timeout`, and a render that does not stop when asked is left behind on its thread;
- a job whose lease lapsed (its worker hung or died) is re-queued by whichever worker notices;
- a store that cannot record a job's end (disk full, database locked) is asked again with backoff
  until it can, and the worker takes no other job meanwhile; a store that cannot hand out the next
  job is asked again at every poll (`claim_error`, `last_claim_ok`: what readiness reports).

Shutdown: stop claiming, let the running job finish within a grace period, otherwise cancel it
and put it back in the queue (no attempt used) so the next start runs it again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Literal

from PIL import Image

from ..config import JobLimits
from ..files import atomic_write
from ..render.outputs import clear_outputs, preview_path
from ..render.ports import PreviewFn, ProgressFn
from ..sketch import imaging
from . import deferred_scores
from .deferred_scores import DeferredScorer, PendingScores
from .events import CANCEL, PREVIEW, PROGRESS, SCORES, STATUS, JobEvents
from .executor import Execution, Executor
from .outcomes import OUTPUTS_LOST, Outcome, outcome_of, outputs_present, timeout_error
from .runner import RenderThread, ended_within
from .store import Job, JobStatus, JobStore

log = logging.getLogger("sketch2render.jobs.worker")

RECORD_RETRY_S = (0.1, 5.0)  # recording a job's end again: first wait, doubling up to the second
CANCEL_GRACE_S = 5.0  # how long a render told to stop may take (at most its time limit) before it is left behind


class _HandedBack(Exception):
    """The job is no longer this worker's to end: its lease lapsed, or `stop` re-queued it."""


class JobWorker:
    """One thread, jobs strictly FIFO. `on_finished(job)` is called after each terminal state (for a
    render with deferred scores, on the score thread once they are in)."""

    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        *,
        on_finished: Callable[[Job], None] | None = None,
        poll_interval: float = 0.5,
        progress_interval: float = 0.25,
        lock: threading.RLock | None = None,  # shared by the workers of a pool (pool.py)
        events: JobEvents | None = None,  # where status, progress and previews are pushed (events.py)
        limits: JobLimits = JobLimits(),  # the lease and the render time limits (config.py)
    ) -> None:
        self.store = store
        self.executor = executor
        self.on_finished = on_finished
        self.poll_interval = poll_interval
        self.progress_interval = progress_interval
        self.events = events or JobEvents()
        self.limits = limits
        self.claim_error: str | None = None  # why the last claim failed; None once one works again
        self.last_claim_ok = time.time()  # when (wall clock) the store last answered a claim
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lock = lock if lock is not None else threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._current: tuple[str, threading.Event] | None = None
        self._abandoned: str | None = None  # the job handed back to the queue at shutdown
        self._thread: threading.Thread | None = None
        self._scorer = DeferredScorer()  # the scores of a render follow while the next one runs
        self._renders = RenderThread()  # where renders run; replaced when one is left behind

    # --- control ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="s2r-job-worker", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    @property
    def current_job(self) -> str | None:
        current = self._current
        return current[0] if current else None

    def notify(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: flagged in the store, stopped here if it runs here; the `cancel` event tells
        the streams and, through notify.py, the process that runs it (it also reads the flag when it
        renews the job's lease)."""
        with self._lock:
            job = self.store.cancel(job_id)
            self._stop_current(job_id)
        self.events.publish(job_id, CANCEL)
        return job

    def stop_render(self, job_id: str) -> bool:
        """Stop the job's render if this worker runs it (its cancel is in the store); True if it did."""
        with self._lock:
            return self._stop_current(job_id)

    def _stop_current(self, job_id: str) -> bool:
        current = self._current
        if current and current[0] == job_id:
            current[1].set()
            return True
        return False

    def stop(self, grace: float) -> None:
        """Stop taking jobs; give the running one `grace` seconds, then re-queue it."""
        self._stopping.set()
        self._wake.set()
        if self._thread is None:
            return
        self._thread.join(grace)
        if not self._thread.is_alive():
            self._scorer.stop(grace)
            return
        with self._lock:
            if self._current:
                job_id, cancel = self._current
                self._abandoned = job_id
                cancel.set()
                try:
                    if self.store.requeue(job_id):
                        log.warning("render %s did not finish within %.1fs of shutdown: re-queued", job_id, grace)
                except Exception:  # the next start's recovery re-queues it
                    log.exception("could not re-queue render %s at shutdown", job_id)
        self._thread.join(min(grace, 2.0) + 0.5)
        self._scorer.stop(min(grace, 2.0))

    # --- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            job = self._next()
            if job is None:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            self._run(job)
        self._renders.close()

    def _next(self) -> Job | None:
        """Release lapsed leases, then claim the next job; a store that fails is asked again at the
        next poll, its error kept in `claim_error` (logged once per distinct error)."""
        try:
            if lapsed := self.store.expire_leases():
                log.warning("re-queued %d running job(s) whose lease lapsed: %s", len(lapsed), ", ".join(lapsed))
            job = self._claim() if self.executor.ready() else None
        except Exception as exc:  # the DB went away, is locked or full: wait, try again
            message = f"{type(exc).__name__}: {exc}"
            if message != self.claim_error:
                log.exception("could not take the next job")
            self.claim_error = message
            return None
        if self.claim_error is not None:
            log.info("taking jobs again (the store answers)")
        self.claim_error, self.last_claim_ok = None, time.time()
        return job

    def _claim(self) -> Job | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            job = self.store.claim_next(self.worker_id, self.limits.lease_s)
            if job is not None:
                self._current = (job.id, threading.Event())
                self.events.publish(job.id, STATUS)
            return job

    def _run(self, job: Job) -> None:
        assert self._current is not None
        cancel = self._current[1]
        job_dir = self.store.job_dir(job.id)
        started = time.monotonic()
        try:
            outcome = self._execute(job, job_dir, cancel)
            recorded = self._record_end(job, job_dir, outcome)
        except _HandedBack:
            with self._lock:
                self._current = None
            return
        ended, outcome = recorded
        status, execution = outcome.status, outcome.execution
        self.events.publish(job.id, STATUS, self._record(job.id))  # the stream need not read it back
        log.info("render %s %s in %.2fs", job.id, status, time.monotonic() - started)
        if not ended:
            return
        if execution is not None and execution.scores is not None and status == JobStatus.SUCCEEDED:
            # Reported with its images; its quality scores follow on their own thread while the next job runs.
            self._scorer.submit(partial(self._score, job.id, execution.scores, execution.recipe))
        else:
            self._finished(job.id)

    def _execute(self, job: Job, job_dir: Path, cancel: threading.Event) -> Outcome:
        """Run the job on the render thread and wait for it, renewing its lease, until it ends, runs
        past its time limit, or is handed back (raises `_HandedBack`)."""

        def render() -> Execution:
            clear_outputs(job_dir)
            progress, preview = self._progress(job.id, cancel), self._preview(job.id, job_dir, cancel)
            return self.executor.execute(job, job_dir, progress=progress, cancel=cancel, preview=preview)

        run = self._renders.run(render)
        limit = self.limits.render_timeout(str(job.params.get("speed", "quality")))
        ended = self._wait(job, run, cancel, time.monotonic() + limit)
        if ended == "stuck":  # cancelled by its user and not stopping: the worker goes on
            return Outcome(JobStatus.CANCELLED)
        timed_out = ended == "late"
        if timed_out:
            cancel.set()
            if not ended_within(run, min(CANCEL_GRACE_S, limit)):
                self._leave_behind(job.id, "ran past its time limit")
                return Outcome(JobStatus.FAILED, timeout_error(limit))
        outcome = outcome_of(job.id, run)
        if timed_out and outcome.status != JobStatus.SUCCEEDED:
            return Outcome(JobStatus.FAILED, timeout_error(limit))
        if cancel.is_set() and not timed_out and outcome.status != JobStatus.CANCELLED:  # after the last step
            return Outcome(JobStatus.CANCELLED)
        return outcome

    def _wait(
        self, job: Job, run: Future[Execution], cancel: threading.Event, deadline: float
    ) -> Literal["done", "late", "stuck"]:
        """Wait for the run until it is done, `deadline` passes ("late"), or it was cancelled and did
        not stop within `CANCEL_GRACE_S` ("stuck": left behind), renewing the lease every third of it
        and releasing lapsed ones; raises `_HandedBack` when the job stopped being this worker's."""
        renewed = time.monotonic()
        cancelled_at: float | None = None
        while not ended_within(run, max(0.0, min(self.poll_interval, deadline - time.monotonic()))):
            now = time.monotonic()
            if cancel.is_set() and cancelled_at is None:
                cancelled_at = now
            elif cancelled_at is not None and now - cancelled_at >= CANCEL_GRACE_S and self._abandoned != job.id:
                self._leave_behind(job.id, "was cancelled")
                return "stuck"
            if self._abandoned == job.id:  # re-queued by stop(): let the render stop, leave the row alone
                if not ended_within(run, 2.0):
                    self._leave_behind(job.id, "did not stop at shutdown")
                raise _HandedBack
            if now >= deadline:
                return "late"
            try:
                if now - renewed >= self.limits.lease_s / 3:
                    held = self.store.renew_lease(job.id, self.worker_id, self.limits.lease_s)
                    renewed = now
                    if held and not cancel.is_set() and self.store.get(job.id).cancel_requested:
                        cancel.set()  # asked of another process, its notice missed: the flag says so
                else:
                    held = True
                held = held and job.id not in self.store.expire_leases()
            except Exception:  # the store is down: the lease runs on; the holder renews it when it is back
                log.debug("could not renew the lease of render %s", job.id, exc_info=True)
                continue
            if not held:
                log.warning("render %s: its lease lapsed and the job went back to the queue; stopping it", job.id)
                cancel.set()
                if not ended_within(run, CANCEL_GRACE_S):
                    self._leave_behind(job.id, "lost its lease")
                raise _HandedBack
        return "done"

    def _leave_behind(self, job_id: str, why: str) -> None:
        """A render that does not stop keeps its thread (a daemon); the next one runs on a fresh one."""
        log.error("render %s %s and does not stop: its thread is left behind, its result ignored", job_id, why)
        self._renders.abandon()
        self._renders = RenderThread()

    def _record_end(self, job: Job, job_dir: Path, outcome: Outcome) -> tuple[bool, Outcome]:
        """Record the end, asking the store again with backoff until it takes it (the worker takes no
        other job meanwhile); a success whose images went meanwhile is recorded as failed. Returns
        finish's answer (False: the job had stopped being this worker's) and what was recorded."""
        delay, tries = RECORD_RETRY_S[0], 0
        while True:
            if tries and outcome.status == JobStatus.SUCCEEDED and not outputs_present(job_dir, outcome.execution):
                outcome = Outcome(JobStatus.FAILED, ("outputs_lost", OUTPUTS_LOST))
            execution = outcome.execution if outcome.status == JobStatus.SUCCEEDED else None
            try:
                with self._lock:
                    if self._abandoned == job.id:  # re-queued by stop(): leave the row alone
                        raise _HandedBack
                    ended = self.store.finish(
                        job.id,
                        outcome.status,
                        error=outcome.error,
                        result=execution.recipe if execution else None,
                        images=execution.images if execution else 0,
                        scores_pending=execution is not None and execution.scores is not None,
                        owner=self.worker_id,
                    )
                    self._current = None
            except _HandedBack:
                raise
            except Exception:
                tries += 1
                if tries == 1:
                    log.exception("could not record the end of render %s; trying again", job.id)
                if self._stopping.is_set():
                    log.error("render %s: its end is not recorded at shutdown; the next start runs it again", job.id)
                    raise _HandedBack from None
                self._stopping.wait(delay)  # a stop wakes it for one last try
                delay = min(delay * 2, RECORD_RETRY_S[1])
                continue
            if tries:
                log.warning("recorded the end of render %s after %d failed tries", job.id, tries)
            return ended, outcome

    def _score(self, job_id: str, pending: PendingScores, recipe: dict) -> None:
        scored = deferred_scores.run(self.store, job_id, pending, recipe)
        self.events.publish(job_id, SCORES, {"scores": scored.get("scores", [])})
        self._finished(job_id)

    def _finished(self, job_id: str) -> None:
        if self.on_finished:
            try:
                self.on_finished(self.store.get(job_id))
            except Exception:
                log.exception("on_finished hook failed for %s", job_id)

    def _record(self, job_id: str) -> dict | None:
        """The job's row as an event's data ({"job": Job}), or None when it cannot be read."""
        try:
            return {"job": self.store.get(job_id)}
        except Exception:  # pruned, or the store closed: listeners read the store themselves
            return None

    def _progress(self, job_id: str, cancel: threading.Event) -> ProgressFn:
        """Progress callback: pushed to listeners at every step, written to the DB at most every
        `progress_interval` seconds; silent once the run is cancelled (or left behind)."""
        last = [0.0]

        def report(step: int, total: int) -> None:
            if cancel.is_set():
                return
            self.events.publish(job_id, PROGRESS, {"step": int(step), "total": int(total)})
            now = time.monotonic()
            if step <= 1 or step >= total or now - last[0] >= self.progress_interval:
                last[0] = now
                try:
                    self.store.set_progress(job_id, int(step), int(total))
                except Exception:  # progress is best effort; never fail a render over it
                    log.debug("progress write failed for %s", job_id, exc_info=True)

        return report

    def _preview(self, job_id: str, job_dir: Path, cancel: threading.Event) -> PreviewFn:
        """Preview callback: the newest preview replaces the last (preview.png), and listeners hear
        of it; nothing once the run is cancelled (or left behind)."""

        def show(step: int, image: Image.Image) -> None:
            if cancel.is_set():
                return
            try:
                atomic_write(preview_path(job_dir), imaging.encode_png(image, compress_level=1), durable=False)
            except OSError:  # a preview is best effort
                log.debug("preview write failed for %s", job_id, exc_info=True)
                return
            self.events.publish(job_id, PREVIEW, {"step": int(step)})

        return show
