"""Job events across API processes on one PostgreSQL database: each event published on this
process's bus (events.py) is sent with `NOTIFY` on one channel, and a listener thread (`LISTEN`
on a connection of its own) hands the other processes' events to the local bus. A job rendered
by process A then streams to a client connected to process B, and a cancel asked of B stops A's
render (`on_cancel`).

- A notice carries the job id, the kind and small data (a step, a preview's step); anything
  larger or not plain JSON (a job's record at its end) is left out: the store and the job's files
  on the shared data folder stay the record, and a stream reads them when a notice has no data.
- Sending never blocks the worker: events wait in a bounded queue for a sender thread; when the
  database is away they are dropped (streams re-read the store every few seconds; the worker
  reads a job's cancel flag when it renews its lease).
- Both threads reconnect with backoff; after a reconnect every local stream re-reads the store
  (notices sent meanwhile were missed). A process ignores its own notices.

Used only with `S2R_DATABASE_URL` (PostgreSQL); on SQLite one process owns the jobs.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable

import psycopg

from .events import CANCEL, JobEvent, JobEvents

log = logging.getLogger("sketch2render.jobs.notify")

CHANNEL = "s2r_job_events"
PAYLOAD_MAX = 4000  # bytes of JSON; PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
RECONNECT_S = (0.5, 10.0)  # first and longest wait before connecting again
OUTBOX_MAX = 10_000  # events waiting to be sent; beyond that they are dropped
LISTEN_POLL_S = 1.0  # how often the listener looks up from its connection (to see a stop)


def libpq_url(url: str) -> str:
    """`S2R_DATABASE_URL` as psycopg connects to it (without SQLAlchemy's `+psycopg` driver name)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def encode(origin: str, event: JobEvent) -> str:
    """A notice's payload: the event with its data when that is small, plain JSON; else without it."""
    notice = {"o": origin, "j": event.job_id, "k": event.kind, "d": event.data}
    try:
        payload = json.dumps(notice, separators=(",", ":"))
    except (TypeError, ValueError):  # a record (a job's end): the store has it
        payload = None
    if payload is None or len(payload.encode()) > PAYLOAD_MAX:
        payload = json.dumps({**notice, "d": {}}, separators=(",", ":"))
    return payload


def decode(payload: str) -> tuple[str, JobEvent] | None:
    """(origin, event) of a notice; None when it is not one of ours."""
    try:
        notice = json.loads(payload)
        data = notice.get("d") or {}
        if not isinstance(data, dict):
            return None
        return str(notice["o"]), JobEvent(str(notice["j"]), str(notice["k"]), data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class EventBridge:
    """This process's link to the others: `start()` sets `events.forward`, `stop()` clears it."""

    def __init__(
        self,
        url: str,
        events: JobEvents,
        *,
        on_cancel: Callable[[str], object] | None = None,
        channel: str = CHANNEL,
    ) -> None:
        self.url = libpq_url(url)
        self.events = events
        self.on_cancel = on_cancel  # a cancel asked of another process: stop the render if it runs here
        self.channel = channel
        self.origin = uuid.uuid4().hex  # this process's notices carry it; its listener skips them
        self.listening = threading.Event()  # set while LISTEN is in place
        self.received = 0  # notices from other processes handed to the local bus
        self._outbox: queue.Queue[str | None] = queue.Queue(OUTBOX_MAX)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- control ---------------------------------------------------------------------------
    def start(self) -> EventBridge:
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._listen_loop, name="s2r-events-listen", daemon=True),
            threading.Thread(target=self._send_loop, name="s2r-events-notify", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.events.forward = self._send
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self.events.forward == self._send:
            self.events.forward = None
        self._stopping.set()
        try:
            self._outbox.put_nowait(None)  # wakes the sender
        except queue.Full:
            pass
        for thread in self._threads:
            thread.join(timeout)
        self.listening.clear()

    # --- sending -----------------------------------------------------------------------------
    def _send(self, event: JobEvent) -> None:
        try:
            self._outbox.put_nowait(encode(self.origin, event))
        except queue.Full:
            log.debug("event of job %s not sent to the other processes (too many waiting)", event.job_id)

    def _next_payload(self) -> str | None:
        """The next notice to send; None at the stop (what was queued before it is sent first)."""
        while True:
            try:
                return self._outbox.get(timeout=LISTEN_POLL_S)
            except queue.Empty:
                if self._stopping.is_set():
                    return None

    def _send_loop(self) -> None:
        delay = RECONNECT_S[0]
        pending: str | None = None
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    delay = RECONNECT_S[0]
                    while True:
                        payload = pending if pending is not None else self._next_payload()
                        if payload is None:
                            return
                        pending = payload
                        conn.execute("SELECT pg_notify(%s, %s)", (self.channel, payload))
                        pending = None
            except psycopg.Error as exc:
                log.warning("cannot send job events to the other processes (%s); trying again", exc)
                self._drain()  # what waited meanwhile is stale (streams re-read the store); the failed one is retried
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, RECONNECT_S[1])

    def _drain(self) -> None:
        while True:
            try:
                if self._outbox.get_nowait() is None:
                    self._stopping.set()
                    return
            except queue.Empty:
                return

    # --- listening ---------------------------------------------------------------------------
    def _listen_loop(self) -> None:
        delay = RECONNECT_S[0]
        reconnecting = False
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    self.listening.set()
                    delay = RECONNECT_S[0]
                    if reconnecting:  # notices sent while away were missed: every stream re-reads the store
                        log.info("listening to the other processes' job events again")
                        self.events.wake_all()
                    while not self._stopping.is_set():
                        for notice in conn.notifies(timeout=LISTEN_POLL_S):
                            self._receive(notice.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                reconnecting = True
                log.warning("lost the other processes' job events (%s); listening again", exc)
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, RECONNECT_S[1])

    def _receive(self, payload: str) -> None:
        decoded = decode(payload)
        if decoded is None:
            return
        origin, event = decoded
        if origin == self.origin:
            return
        self.received += 1
        self.events.deliver(event)
        if event.kind == CANCEL and self.on_cancel is not None:
            try:
                self.on_cancel(event.job_id)
            except Exception:
                log.exception("could not stop render %s cancelled by another process", event.job_id)
