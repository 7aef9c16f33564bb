"""The job worker: one thread that takes queued jobs in order and runs them through an `Executor`
(executor.py: in this process, or on Ray Serve replicas, scale/ray_backend.py). The queue and
the store stay the same whichever runs the job. Cancellation is cooperative: the service checks
an Event between steps.

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
from functools import partial
from pathlib import Path

from PIL import Image

from .. import errors
from ..files import atomic_write
from ..render.outputs import clear_outputs, preview_path
from ..render.ports import PreviewFn, ProgressFn
from ..sketch import imaging
from . import deferred_scores
from .deferred_scores import DeferredScorer, PendingScores
from .events import PREVIEW, PROGRESS, SCORES, STATUS, JobEvents
from .executor import Executor
from .store import Job, JobStatus, JobStore

log = logging.getLogger("sketch2render.jobs.worker")


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
    ) -> None:
        self.store = store
        self.executor = executor
        self.on_finished = on_finished
        self.poll_interval = poll_interval
        self.progress_interval = progress_interval
        self.events = events or JobEvents()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lock = lock if lock is not None else threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._current: tuple[str, threading.Event] | None = None
        self._abandoned: str | None = None  # the job handed back to the queue at shutdown
        self._thread: threading.Thread | None = None
        self._scorer = DeferredScorer()  # the scores of a render follow while the next one runs

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
        with self._lock:
            job = self.store.cancel(job_id)
            if self._current and self._current[0] == job_id:
                self._current[1].set()
        self.events.publish(job_id, STATUS)
        return job

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
                if self.store.requeue(job_id):
                    log.warning("render %s did not finish within %.1fs of shutdown: re-queued", job_id, grace)
        self._thread.join(min(grace, 2.0) + 0.5)
        self._scorer.stop(min(grace, 2.0))

    # --- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._claim() if self.executor.ready() else None
            except Exception:  # the DB went away or is locked: log, wait, try again
                log.exception("could not take the next job")
                job = None
            if job is None:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            self._run(job)

    def _claim(self) -> Job | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            job = self.store.claim_next(self.worker_id)
            if job is not None:
                self._current = (job.id, threading.Event())
                self.events.publish(job.id, STATUS)
            return job

    def _run(self, job: Job) -> None:
        assert self._current is not None
        cancel = self._current[1]
        job_dir = self.store.job_dir(job.id)
        status, error, execution = JobStatus.FAILED, None, None
        started = time.monotonic()
        try:
            clear_outputs(job_dir)
            execution = self.executor.execute(
                job, job_dir, progress=self._progress(job.id), cancel=cancel, preview=self._preview(job.id, job_dir)
            )
            status = JobStatus.SUCCEEDED
        except errors.Cancelled:
            status = JobStatus.CANCELLED
        except errors.S2RError as exc:
            error = (exc.code, exc.message)
        except Exception as exc:  # a bug or a crash in the renderer: the job fails, the worker lives
            log.exception("render %s failed unexpectedly", job.id)
            error = ("internal_error", f"rendering failed unexpectedly ({type(exc).__name__}); see the server log")
        if cancel.is_set() and status != JobStatus.CANCELLED:  # cancelled after the last step
            status, error = JobStatus.CANCELLED, None
        with self._lock:
            self._current = None
            if self._abandoned == job.id:  # re-queued by stop(): leave the row alone
                return
            try:
                ended = self.store.finish(
                    job.id,
                    status,
                    error=error,
                    result=execution.recipe if execution and status == JobStatus.SUCCEEDED else None,
                    images=execution.images if execution and status == JobStatus.SUCCEEDED else 0,
                    scores_pending=execution is not None and execution.scores is not None,
                )
            except Exception:
                log.exception("could not record the end of render %s", job.id)
                return
        self.events.publish(job.id, STATUS, self._record(job.id))  # the stream need not read it back
        log.info("render %s %s in %.2fs", job.id, status, time.monotonic() - started)
        if not ended:
            return
        if execution is not None and execution.scores is not None and status == JobStatus.SUCCEEDED:
            # Reported with its images; its quality scores follow on their own thread while the next job runs.
            self._scorer.submit(partial(self._score, job.id, execution.scores, execution.recipe))
        else:
            self._finished(job.id)

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

    def _progress(self, job_id: str) -> ProgressFn:
        """Progress callback: pushed to listeners at every step, written to the DB at most every
        `progress_interval` seconds."""
        last = [0.0]

        def report(step: int, total: int) -> None:
            self.events.publish(job_id, PROGRESS, {"step": int(step), "total": int(total)})
            now = time.monotonic()
            if step <= 1 or step >= total or now - last[0] >= self.progress_interval:
                last[0] = now
                try:
                    self.store.set_progress(job_id, int(step), int(total))
                except Exception:  # progress is best effort; never fail a render over it
                    log.debug("progress write failed for %s", job_id, exc_info=True)

        return report

    def _preview(self, job_id: str, job_dir: Path) -> PreviewFn:
        """Preview callback: the newest preview replaces the last (preview.png), and listeners hear of it."""

        def show(step: int, image: Image.Image) -> None:
            try:
                atomic_write(preview_path(job_dir), imaging.encode_png(image, compress_level=1), durable=False)
            except OSError:  # a preview is best effort
                log.debug("preview write failed for %s", job_id, exc_info=True)
                return
            self.events.publish(job_id, PREVIEW, {"step": int(step)})

        return show
