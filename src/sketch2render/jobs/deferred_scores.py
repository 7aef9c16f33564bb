"""Quality scores after the images: the worker reports a render as succeeded as soon as its PNGs
are written, then computes its quality scores (the recipe's `scores`) and fills them in a moment later.

They are computed on a thread of their own (`DeferredScorer`), in order, so the worker starts the
next job at once instead of after two CLIP image embeddings; at most `backlog` renders wait for
their scores, beyond that the worker waits (scores never fall behind without bound).

While they are computed the job's `scores_pending` column is set (the job view's `scores_pending`);
`run` writes the scored recipe and clears it (`JobStore.set_result`), and the worker pushes a
`scores` event to the job's event streams. A server that stops in between loses only those
scores: `clear_stale` clears the flag at the next start, so nobody waits for them forever.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .store import JobStore

log = logging.getLogger("sketch2render.jobs.deferred_scores")


@dataclass(frozen=True)
class PendingScores:
    """Computes the scores of a finished render, rewrites its sidecar; returns the full recipe."""

    compute: Callable[[], dict[str, Any]]


def run(store: JobStore, job_id: str, pending: PendingScores, stored: dict[str, Any]) -> dict[str, Any]:
    """Compute and store (nothing if the job was pruned meanwhile); on failure the job keeps its images
    and gets no scores (logged). Either way its `scores_pending` flag goes."""
    try:
        result = pending.compute()
    except Exception:
        log.exception("quality scores of render %s failed; it keeps its images without scores", job_id)
        result = stored
    try:
        store.set_result(job_id, result, scores_pending=False)
    except Exception:  # the store went away (shutdown): the scores are in the sidecar; the worker lives
        log.exception("could not record the quality scores of render %s", job_id)
    return result


def clear_stale(store: JobStore) -> int:
    """At start: scores that were being computed when the server stopped will not come."""
    return store.clear_scores_pending()


class DeferredScorer:
    """One thread that runs what follows a reported render (its scores, then the worker's hook),
    in the order the renders finished. Started on first use; `stop` lets what is queued finish."""

    def __init__(self, backlog: int = 2) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(backlog)
        self._thread: threading.Thread | None = None

    def submit(self, task: Callable[[], None]) -> None:
        """Queue `task` (blocks while `backlog` tasks wait)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="s2r-scores", daemon=True)
            self._thread.start()
        self._queue.put(task)

    def _loop(self) -> None:
        while (task := self._queue.get()) is not None:
            try:
                task()
            except Exception:  # a task logs its own failures; this keeps the thread alive whatever happens
                log.exception("a task after a render failed")

    def stop(self, timeout: float) -> bool:
        """Finish what is queued within `timeout` seconds; True when the thread is idle and ended."""
        if self._thread is None:
            return True
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()
