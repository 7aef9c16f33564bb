"""Where a job worker's renders run: one daemon thread beside the worker's own, so the worker can
wait for a render with a deadline, renew the job's lease meanwhile, and notice a stop.

A render that does not stop when asked (a deadlocked library, a stalled GPU) is left behind:
`abandon` lets its thread end whenever that call returns, if ever, and nobody reads its outcome;
the worker goes on with a fresh `RenderThread`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Generic, TypeVar

T = TypeVar("T")


class Run(Generic[T]):
    """One call on the render thread: `done` is set when it returned or raised."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self.done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def __call__(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the worker, which decides what it means
            self._error = exc
        finally:
            self.done.set()

    def outcome(self) -> T:
        """The call's value, or its exception raised again (only once `done` is set)."""
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class RenderThread:
    """Runs calls one at a time on a daemon thread started on first use."""

    def __init__(self, name: str = "s2r-render") -> None:
        self._name = name
        self._calls: SimpleQueue[Run | None] = SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, call: Callable[[], T]) -> Run[T]:
        run = Run(call)
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()
        self._calls.put(run)
        return run

    def _loop(self) -> None:
        while (run := self._calls.get()) is not None:
            run()

    def close(self) -> None:
        """The thread ends after the call it runs now (at once when idle)."""
        self._calls.put(None)

    abandon = close  # a call that never returns keeps its (daemon) thread; nothing waits for it
