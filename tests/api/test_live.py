"""Fast and live over HTTP: pushed events with previews, the preview route, and the live lane
(never behind quality jobs; a newer render of a session supersedes its older queued ones; bounded)."""

from __future__ import annotations

import threading

from api.conftest import assert_error, submit, wait_for
from api.fakes import FakeRenderService
from api.test_renders import _events


def test_events_carry_every_step_and_previews_that_the_preview_route_serves(harness):
    client, _ = harness.client(service=FakeRenderService(harness.settings(), step_delay=0.05))
    job_id = submit(client, steps="6").json()["id"]
    assert_error(client.get(f"/v1/renders/{job_id}/preview"), 404, "not_found")  # none yet
    with client.stream("GET", f"/v1/renders/{job_id}/events") as response:
        events = _events(response.read().decode())
    steps = [data["step"] for name, data in events if name == "progress"]
    assert steps == [1, 2, 3, 4, 5, 6]  # pushed as they happen: no step skipped by polling
    previews = [data for name, data in events if name == "preview"]
    assert [p["step"] for p in previews] == [2, 4] and all(p["id"] == job_id for p in previews)
    image = client.get(previews[-1]["url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")


def test_live_jobs_go_before_queued_quality_jobs(harness):
    gate = threading.Event()
    fake = FakeRenderService(harness.settings(), gate=gate)
    client, _ = harness.client(service=fake)
    running = submit(client).json()["id"]  # holds the worker
    assert fake.started.wait(10)
    quality = submit(client).json()["id"]
    live = submit(client, speed="live", live_session="canvas-1").json()["id"]
    gate.set()
    for job_id in (running, quality, live):
        wait_for(client, job_id)
    order = [c.speed for c in fake.calls]
    assert order == ["quality", "live", "quality"]  # the live job jumped the queued quality one


def test_a_newer_live_render_supersedes_the_older_queued_one(harness):
    gate = threading.Event()
    fake = FakeRenderService(harness.settings(), gate=gate)
    client, _ = harness.client(service=fake)
    submit(client)  # holds the worker
    assert fake.started.wait(10)
    burst = [submit(client, speed="live", live_session="s", seed=str(i)).json()["id"] for i in range(20)]
    other = submit(client, speed="live", live_session="other").json()["id"]
    gate.set()
    jobs = [wait_for(client, job_id) for job_id in burst]
    assert [j["status"] for j in jobs[:-1]] == ["cancelled"] * 19
    assert all(j["error"]["code"] == "superseded" for j in jobs[:-1])
    assert jobs[-1]["status"] == "succeeded" and wait_for(client, other)["status"] == "succeeded"
    assert sum(c.speed == "live" for c in fake.calls) == 2  # the superseded ones never ran


def test_live_sessions_are_bounded_and_bad_fields_are_named(harness):
    gate = threading.Event()
    fake = FakeRenderService(harness.settings(live_sessions_max=2), gate=gate)
    client, _ = harness.client(service=fake, live_sessions_max=2)
    submit(client, speed="live", live_session="a")
    submit(client, speed="live", live_session="b")
    assert_error(submit(client, speed="live", live_session="c"), 429, "queue_full")
    assert submit(client, speed="live", live_session="a").status_code == 202  # an existing session goes on
    assert_error(submit(client, live_session="a"), 422, field="live_session")  # only with speed=live
    assert_error(submit(client, speed="turbo"), 422, field="speed")
    assert_error(submit(client, speed="live", live_session="no spaces"), 422, field="live_session")
    gate.set()
