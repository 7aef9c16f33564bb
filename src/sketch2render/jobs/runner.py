"""Where a job worker's renders run: one daemon thread beside the worker's own, so the worker can
wait for a render with a deadline, renew the job's lease meanwhile, and notice a stop.

A render that does not stop when asked (a deadlocked library, a stalled GPU) is left behind:
`abandon` lets its thread end whenever that call returns, if ever, and nobody reads its outcome;
the worker goes on with a fresh `RenderThread`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from queue import SimpleQueue
from typing import TypeVar

T = TypeVar("T")


def ended_within(run: Future, timeout: float) -> bool:
    """Whether the call returned or raised within `timeout` seconds."""
    return bool(wait([run], timeout=max(0.0, timeout)).done)


class RenderThread:
    """Runs calls one at a time on a daemon thread started on first use."""

    def __init__(self, name: str = "s2r-render") -> None:
        self._name = name
        self._calls: SimpleQueue[tuple[Future, Callable[[], object]] | None] = SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, call: Callable[[], T]) -> Future[T]:
        """`call` on the thread; its value or exception comes back through the future."""
        run: Future[T] = Future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()
        self._calls.put((run, call))
        return run

    def _loop(self) -> None:
        while (item := self._calls.get()) is not None:
            run, call = item
            run.set_running_or_notify_cancel()
            try:
                run.set_result(call())
            except BaseException as exc:  # handed to the worker, which decides what it means
                run.set_exception(exc)

    def close(self) -> None:
        """The thread ends after the call it runs now (at once when idle)."""
        self._calls.put(None)

    abandon = close  # a call that never returns keeps its (daemon) thread; nothing waits for it
