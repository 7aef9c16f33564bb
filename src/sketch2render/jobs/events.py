"""Job events pushed to listeners as they happen: the worker thread publishes (a job started, a
step ended, a preview was written, the job ended, it was cancelled), and each server-sent event
stream listens on its job. No database polling on that path: a step reaches the browser as soon
as the worker reports it. The store stays the record; a listener reads it for the full state,
except when the event carries it (a job's end: `{"job": Job}`, read by the worker as it recorded it).

Thread-safe: `publish` may be called from any thread; a listener's queue belongs to an asyncio
loop and is fed through `call_soon_threadsafe`.

Several API processes on one PostgreSQL database: `forward`, when set (notify.py's bridge), also
sends each event published here to the other processes, whose bridges hand it to `deliver`
(their local listeners only, never forwarded again).
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

STATUS, PROGRESS, PREVIEW, SCORES, WAKE = "status", "progress", "preview", "scores", "wake"
CANCEL = "cancel"  # a cancel was asked for (a stream reads the status; the process running the job stops it)


@dataclass(frozen=True)
class JobEvent:
    job_id: str
    kind: str  # status | progress | preview | scores | cancel
    data: dict


class Listener:
    """One stream's queue of events for one job."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.queue: asyncio.Queue[JobEvent] = asyncio.Queue()

    def put(self, event: JobEvent) -> None:
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the loop has closed: the stream is gone
            pass

    async def next(self, timeout: float) -> JobEvent | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class JobEvents:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self.forward: Callable[[JobEvent], None] | None = None  # to the other API processes (notify.py)

    def publish(self, job_id: str, kind: str, data: dict | None = None) -> None:
        event = JobEvent(job_id, kind, data or {})
        self.deliver(event)
        forward = self.forward
        if forward is not None:
            forward(event)

    def deliver(self, event: JobEvent) -> None:
        """Hand `event` to this process's listeners of its job (an event from another process comes here)."""
        with self._lock:
            listeners = list(self._listeners.get(event.job_id, ()))
        for listener in listeners:
            listener.put(event)

    def wake_all(self) -> None:
        """Every listener looks at its job (and at the server) now: shutdown ends the streams at once."""
        with self._lock:
            everyone = [(job_id, listener) for job_id, group in self._listeners.items() for listener in group]
        for job_id, listener in everyone:
            listener.put(JobEvent(job_id, WAKE, {}))

    @contextmanager
    def listen(self, job_id: str) -> Iterator[Listener]:
        """Events of one job while the block runs (call inside the stream's event loop)."""
        listener = Listener(asyncio.get_running_loop())
        with self._lock:
            self._listeners[job_id].add(listener)
        try:
            yield listener
        finally:
            with self._lock:
                self._listeners[job_id].discard(listener)
                if not self._listeners[job_id]:
                    del self._listeners[job_id]

    def listening(self, job_id: str) -> int:
        with self._lock:
            return len(self._listeners.get(job_id, ()))
