"""RayExecutor against a scripted stand-in for a Serve handle (no cluster): the output layout,
progress and replica relay, retry on a dead replica, backpressure, replica errors, cancellation."""

from __future__ import annotations

import threading

import pytest
from ray.exceptions import ActorDiedError, ActorUnavailableError
from ray.serve.exceptions import BackPressureError, RequestCancelledError

from sketch2render import errors
from sketch2render.config import Settings
from sketch2render.errors import WorkerDied
from sketch2render.jobs.store import JobStore
from sketch2render.scale import ray_backend
from sketch2render.scale.ray_backend import RayExecutor
from sketch2render.scale.replica_jobs import RenderJob
from sketch2render.scale.shipping import JobShipper

RESULT = {"recipe": {"seed": 1}, "images": [b"\x89PNG one"], "control": b"\x89PNG control"}


class Stream:
    """What `handle.options(stream=True).run.remote(job)` returns: chunks, then maybe an error."""

    def __init__(self, chunks, error=None, block=False):
        self.chunks, self.error, self.block = chunks, error, block
        self.cancelled = threading.Event()

    def __iter__(self):
        yield from self.chunks
        if self.block:  # a render that runs until cancelled
            assert self.cancelled.wait(10)
            raise RequestCancelledError()
        if self.error is not None:
            raise self.error

    def cancel(self):
        self.cancelled.set()


class Handle:
    def __init__(self, *streams):
        self.streams = list(streams)
        self.calls = 0

    def options(self, stream):
        assert stream is True
        return self

    @property
    def run(self):
        return self

    def remote(self, job):
        assert isinstance(job, RenderJob) and job.sketch == b"sketch bytes" and job.params.prompt == "a house"
        assert job.retrieved.hits == [] and job.styles == ()  # retrieved here, in the empty library
        self.calls += 1
        return self.streams.pop(0)


class EmptyLibrary:
    """A style library with no style: the render retrieves nothing (and so ships no style)."""

    def __len__(self):
        return 0


def shipper():
    return JobShipper(EmptyLibrary(), search=None, settings=Settings())


def ok(replica="r1"):
    return Stream([{"replica": replica}, {"progress": [1, 2]}, {"progress": [2, 2]}, {"result": RESULT}])


@pytest.fixture
def job(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3", tmp_path / "renders", queue_max=10, max_history=100)
    store.submit(b"sketch bytes", {"prompt": "a house", "steps": 2}, owner="alice")
    claimed = store.claim_next("api-worker")
    yield store, claimed, store.job_dir(claimed.id)
    store.close()


def run(handle, job, cancel=None):
    store, claimed, job_dir = job
    seen = []
    executor = RayExecutor(lambda: handle, store, shipper, retry_delay=0.01)
    execution = executor.execute(
        claimed, job_dir, progress=lambda s, t: seen.append((s, t)), cancel=cancel or threading.Event()
    )
    return execution, seen


def test_outputs_progress_and_replica(job):
    execution, seen = run(Handle(ok()), job)
    store, claimed, job_dir = job
    assert execution.images == 1 and execution.recipe == {"seed": 1}
    assert (job_dir / "render.png").read_bytes() == b"\x89PNG one"
    assert (job_dir / "render.control.png").read_bytes() == b"\x89PNG control"
    assert (job_dir / "render.json").exists()
    assert seen == [(1, 2), (2, 2)]
    assert store.get(claimed.id).worker_id == "r1"


def test_previews_from_the_replica_reach_the_worker_as_images(job):
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 30)).save(buffer, format="PNG")
    chunks = [{"replica": "r1"}, {"progress": [1, 4]}, {"preview": [2, buffer.getvalue()]}, {"result": RESULT}]
    store, claimed, job_dir = job
    previews = []
    RayExecutor(lambda: Handle(Stream(chunks)), store, shipper, retry_delay=0.01).execute(
        claimed, job_dir, progress=lambda s, t: None, cancel=threading.Event(),
        preview=lambda step, image: previews.append((step, image.size, image.getpixel((0, 0)))),
    )  # fmt: skip
    assert previews == [(2, (32, 24), (10, 200, 30))]


def test_a_dead_replica_is_retried_once_on_another(job):
    handle = Handle(Stream([{"replica": "r1"}, {"progress": [1, 2]}], ActorDiedError()), ok("r2"))
    execution, _ = run(handle, job)
    assert execution.images == 1 and handle.calls == 2
    assert job[0].get(job[1].id).worker_id == "r2"


def test_a_second_death_fails_the_job_with_the_reason(job):
    handle = Handle(
        Stream([{"replica": "r1"}], ActorDiedError()),
        Stream([{"replica": "r2"}], ActorUnavailableError("gone", None)),
    )
    with pytest.raises(WorkerDied) as caught:
        run(handle, job)
    assert caught.value.code == "worker_died" and "r1" in caught.value.message and "r2" in caught.value.message


def test_backpressure_waits_and_retries(job, monkeypatch):
    monkeypatch.setattr(ray_backend, "BACKPRESSURE_DELAYS_S", (0.01, 0.02))
    handle = Handle(Stream([], BackPressureError(4, 4)), Stream([], BackPressureError(4, 4)), ok())
    execution, _ = run(handle, job)
    assert execution.images == 1 and handle.calls == 3


def test_a_replica_error_becomes_the_same_domain_error(job):
    error = {"type": "NotFound", "code": "not_found", "message": "no style with id 'abc'", "field": "style_id"}
    with pytest.raises(errors.NotFound) as caught:
        run(Handle(Stream([{"replica": "r1"}, {"error": error}])), job)
    assert (caught.value.code, caught.value.field) == ("not_found", "style_id")


def test_cancelling_cancels_the_serve_request(job):
    stream = Stream([{"replica": "r1"}, {"progress": [1, 150]}], block=True)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(errors.Cancelled):
        run(Handle(stream), job, cancel)
    assert stream.cancelled.is_set()
