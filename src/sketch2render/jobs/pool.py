"""Several job workers over one store and one executor, for a backend that renders N jobs at once
(the Ray backend: one slot per replica it can have). Each worker is a plain `JobWorker`, so
every job still goes through the same claim / run / finish / shutdown path; the local backend
keeps its single worker and its strict one-at-a-time order.

The workers share one lock: a claim by one worker and a cancel routed to another can never
interleave, so a cancellation always reaches the worker that runs the job. The pool has the
`JobWorker` interface that the runtime and the routes use (start, alive, notify, cancel, stop,
claim_error, last_claim_ok).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .executor import Executor
from .store import Job, JobStore
from .worker import JobWorker


class JobWorkerPool:
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        *,
        slots: int,
        on_finished: Callable[[Job], None] | None = None,
        **options: Any,
    ) -> None:
        if slots < 1:
            raise ValueError(f"a worker pool needs at least one slot, got {slots}")
        self.store = store
        self.executor = executor
        self._lock = threading.RLock()
        self.workers = [
            JobWorker(store, executor, on_finished=on_finished, lock=self._lock, **options) for _ in range(slots)
        ]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    @property
    def alive(self) -> bool:
        return all(worker.alive for worker in self.workers)

    @property
    def current_jobs(self) -> list[str]:
        return [job for worker in self.workers if (job := worker.current_job)]

    @property
    def current_job(self) -> str | None:
        jobs = self.current_jobs
        return jobs[0] if jobs else None

    @property
    def claim_error(self) -> str | None:
        """Why a worker's last claim failed (the store's error); None while every worker claims."""
        return next((error for worker in self.workers if (error := worker.claim_error)), None)

    @property
    def last_claim_ok(self) -> float:
        """When (wall clock) a worker's claim last worked."""
        return max(worker.last_claim_ok for worker in self.workers)

    def notify(self) -> None:
        for worker in self.workers:
            worker.notify()

    def cancel(self, job_id: str) -> Job:
        with self._lock:  # no worker can claim between finding the owner and flagging it
            owner = next((w for w in self.workers if w.current_job == job_id), self.workers[0])
            return owner.cancel(job_id)

    def stop_render(self, job_id: str) -> bool:
        """Stop the job's render if a worker of this pool runs it (a cancel asked of another process)."""
        return any(worker.stop_render(job_id) for worker in self.workers)

    def stop(self, grace: float) -> None:
        """Stop every worker at once (each lets its job finish within `grace`, else re-queues it)."""
        threads = [threading.Thread(target=w.stop, args=(grace,), name="s2r-pool-stop") for w in self.workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
