"""Job events between API processes (jobs/notify.py), two buses on one throw-away PostgreSQL: an
event published on one reaches the other's listeners and never comes back to its own; a job's
record stays out of the notice (the store has it); a cancel reaches `on_cancel`; a listener whose
connection is cut listens again and makes every stream re-read the store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from waiting import eventually

from sketch2render.jobs.events import CANCEL, PREVIEW, PROGRESS, STATUS, WAKE, JobEvent, JobEvents
from sketch2render.jobs.notify import PAYLOAD_MAX, EventBridge, decode, encode


def test_a_notice_keeps_small_data_and_leaves_a_record_out():
    assert decode(encode("a", JobEvent("j1", PROGRESS, {"step": 2, "total": 4}))) == (
        "a", JobEvent("j1", PROGRESS, {"step": 2, "total": 4}),
    )  # fmt: skip
    record = JobEvent("j1", STATUS, {"job": object()})  # a job's end carries its record: not JSON
    assert decode(encode("a", record)) == ("a", JobEvent("j1", STATUS, {}))
    big = JobEvent("j1", "scores", {"scores": ["x" * 100] * (PAYLOAD_MAX // 50)})
    payload = encode("a", big)
    assert len(payload.encode()) < PAYLOAD_MAX and decode(payload) == ("a", JobEvent("j1", "scores", {}))
    assert decode("not json") is None and decode('{"o": "a"}') is None


class Process:
    """One API process's side: its bus, its bridge, what its listeners heard and what it was asked to stop."""

    def __init__(self, url: str) -> None:
        self.events = JobEvents()
        self.stopped: list[str] = []
        self.bridge = EventBridge(url, self.events, on_cancel=self.stopped.append).start()
        eventually(self.bridge.listening.is_set, 10, what="the bridge to LISTEN")


@pytest.fixture
def pair(postgres_url) -> Iterator[tuple[Process, Process]]:
    a, b = Process(postgres_url), Process(postgres_url)
    yield a, b
    a.bridge.stop()
    b.bridge.stop()


async def _heard(process: Process, job_id: str, act, count: int) -> list[JobEvent]:
    """What `process`'s listener of `job_id` hears (`count` events) after `act()`."""
    with process.events.listen(job_id) as listener:
        act()
        heard = []
        while len(heard) < count:
            event = await listener.next(10)
            assert event is not None, f"heard only {heard}"
            heard.append(event)
        return heard


def test_an_event_published_in_one_process_reaches_the_others_listeners_once(pair):
    a, b = pair

    def publish() -> None:
        a.events.publish("job1", PROGRESS, {"step": 1, "total": 2})
        a.events.publish("job1", PREVIEW, {"step": 1})
        a.events.publish("job1", STATUS, {"job": object()})

    heard = asyncio.run(_heard(b, "job1", publish, 3))
    assert heard == [
        JobEvent("job1", PROGRESS, {"step": 1, "total": 2}),
        JobEvent("job1", PREVIEW, {"step": 1}),
        JobEvent("job1", STATUS, {}),
    ]
    # A's own listener hears its events once (locally), never again through the database.
    heard = asyncio.run(_heard(a, "job2", lambda: a.events.publish("job2", PROGRESS, {"step": 1}), 1))
    assert heard == [JobEvent("job2", PROGRESS, {"step": 1})]
    eventually(lambda: b.bridge.received == 4, 10, what="B to receive A's four notices")
    assert a.bridge.received == 0


def test_a_cancel_asked_of_one_process_stops_the_render_in_the_other(pair):
    a, b = pair
    b.events.publish("job3", CANCEL)
    eventually(lambda: a.stopped == ["job3"], 10, what="A to be asked to stop job3")
    assert b.stopped == []


def test_a_cut_listener_listens_again_and_streams_re_read_the_store(pair, postgres_url):
    a, b = pair
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
        )

    async def after_cut() -> list[JobEvent]:
        with b.events.listen("job4") as listener:
            first = await listener.next(15)  # the wake that follows listening again
            eventually(b.bridge.listening.is_set, 10, what="B to listen again")
            a.events.publish("job4", PROGRESS, {"step": 3})
            return [first, await listener.next(10)]

    assert asyncio.run(after_cut()) == [JobEvent("job4", WAKE, {}), JobEvent("job4", PROGRESS, {"step": 3})]


def test_events_published_just_before_a_stop_still_reach_the_others(pair):
    a, b = pair

    def publish_and_stop() -> None:
        for step in range(1, 4):
            a.events.publish("job5", PROGRESS, {"step": step})
        a.bridge.stop()  # a process shutting down: what it published is sent first

    heard = asyncio.run(_heard(b, "job5", publish_and_stop, 3))
    assert [event.data["step"] for event in heard] == [1, 2, 3]
    assert a.events.forward is None
