"""POST/GET/DELETE /v1/renders and the event stream, on the fake service."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest
from corpus import bad_inputs
from PIL import Image, ImageDraw
from waiting import eventually

from api.conftest import assert_error, colour_png, sketch_png, submit, wait_for
from api.fakes import FakeRenderService
from sketch2render.config import Settings
from sketch2render.errors import InvalidParameter, NoEdges
from sketch2render.jobs.store import INPUT_NAME
from sketch2render.render import read_recipe
from sketch2render.schemas import StyleMeta


def test_submit_stores_the_job_before_answering_then_renders(harness):
    gate = threading.Event()
    client, fake = harness.client(service=FakeRenderService(harness.settings(), gate=gate))
    response = submit(client)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and response.headers["location"] == f"/v1/renders/{body['id']}"
    # Stored before the 202: the row and the input file exist while the worker is held.
    store = client.app.state.runtime.store
    assert store.get(body["id"]).params["prompt"] == "a red house"
    assert (harness.home / "renders" / body["id"] / "sketch.input").read_bytes() == sketch_png()
    gate.set()
    job = wait_for(client, body["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == {"step": 3, "total": 3}
    assert job["error"] is None and job["attempts"] == 1
    assert job["result"]["seed"] == 7 and job["result"]["timings"]["total"] > 0
    assert job["params"]["steps"] == 3 and job["warning"]


def test_image_and_control_image_are_pngs_with_the_recipe(client):
    job = wait_for(client, submit(client, num_images="1").json()["id"])
    image = client.get(job["urls"]["images"][0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert read_recipe(image.content).seed == 7
    assert job["urls"]["control"] == f"/v1/renders/{job['id']}/control"
    control = client.get(job["urls"]["control"])
    assert control.status_code == 200 and control.content.startswith(b"\x89PNG")
    assert (job_folder(client, job["id"]) / "render.control.png").read_bytes() == control.content
    # /edges, the old name, is an alias for existing clients (and so is urls.edges).
    assert client.get(job["urls"]["edges"]).content == control.content
    # The control image is the sketch's (white lines on black), not the render.
    from sketch2render.sketch import imaging

    sketch = imaging.resize_for_generation(imaging.decode_upload(sketch_png(), Settings().limits), 64)
    expected = np.asarray(imaging.detect_edges(sketch).control_image())
    served = np.asarray(Image.open(io.BytesIO(control.content)).convert("RGB"))
    assert np.array_equal(served, expected)
    assert not np.array_equal(served, np.asarray(Image.open(io.BytesIO(image.content)).convert("RGB")))


def test_several_images_by_index(client):
    job = wait_for(client, submit(client, num_images="3").json()["id"])
    assert job["urls"]["images"] == [f"/v1/renders/{job['id']}/image?index={i}" for i in range(3)]
    seeds = [read_recipe(client.get(url).content) for url in job["urls"]["images"]]
    assert len({s.seed for s in seeds}) == 1  # one recipe, image index inside the PNG
    bodies = {client.get(url).content for url in job["urls"]["images"]}
    assert len(bodies) == 3
    assert_error(client.get(f"/v1/renders/{job['id']}/image?index=3"), 404, "not_found", "index")
    assert_error(client.get(f"/v1/renders/{job['id']}/image?index=-1"), 422, "invalid_parameter", "index")


def test_same_seed_same_image(client):
    a = wait_for(client, submit(client).json()["id"])
    b = wait_for(client, submit(client).json()["id"])
    c = wait_for(client, submit(client, seed="8").json()["id"])
    image = lambda job: client.get(job["urls"]["images"][0]).content  # noqa: E731
    assert image(a) == image(b) != image(c)


def test_unknown_and_malformed_ids_are_404(client):
    for path in ["/v1/renders/" + "0" * 32, "/v1/renders/nope", "/v1/renders/..%2F..%2Fjobs.sqlite3"]:
        for suffix in ["", "/image", "/control", "/edges", "/events"]:
            assert_error(client.get(path + suffix), 404, "not_found")
    assert_error(client.delete("/v1/renders/" + "a" * 32), 404, "not_found")


def test_image_of_an_unfinished_job_is_409(harness):
    gate = threading.Event()
    client, _ = harness.client(service=FakeRenderService(harness.settings(), gate=gate))
    job_id = submit(client).json()["id"]
    assert_error(client.get(f"/v1/renders/{job_id}/image"), 409, "conflict")
    assert_error(client.get(f"/v1/renders/{job_id}/control"), 409, "conflict")
    assert_error(client.get(f"/v1/renders/{job_id}/edges"), 409, "conflict")
    gate.set()


def job_folder(client, job_id: str):
    return client.app.state.runtime.store.job_dir(job_id)


def test_a_job_folder_written_before_the_rename_still_serves_its_control_image(client):
    job = wait_for(client, submit(client).json()["id"])
    directory = job_folder(client, job["id"])
    data = (directory / "render.control.png").read_bytes()
    (directory / "render.control.png").rename(directory / "render.edges.png")  # the old name
    for route in ("control", "edges"):
        served = client.get(f"/v1/renders/{job['id']}/{route}")
        assert served.status_code == 200 and served.content == data
    (directory / "render.edges.png").unlink()
    for route in ("control", "edges"):
        assert_error(client.get(f"/v1/renders/{job['id']}/{route}"), 404, "not_found", "id")


def test_openapi_marks_edges_as_a_deprecated_alias_of_control(client):
    paths = client.get("/openapi.json").json()["paths"]
    control, edges = paths["/v1/renders/{job_id}/control"]["get"], paths["/v1/renders/{job_id}/edges"]["get"]
    assert edges["deprecated"] is True and "deprecated" not in control
    assert edges["responses"] == control["responses"] and edges["parameters"] == control["parameters"]
    links = paths["/v1/renders"]["post"]["responses"]["202"]["links"]
    assert links["RenderControl"]["operationId"] == "renders-control"
    urls = client.get("/openapi.json").json()["components"]["schemas"]["JobUrls"]["properties"]
    assert urls["edges"]["deprecated"] is True and "deprecated" not in urls["control"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"steps": "0"}, "steps"),
        ({"steps": "151"}, "steps"),
        ({"steps": "many"}, "steps"),
        ({"size": "100"}, "size"),
        ({"size": "2048"}, "size"),
        ({"guidance_scale": "31"}, "guidance_scale"),
        ({"control_start": "0.8", "control_end": "0.5"}, "control_start"),
        ({"canny_low": "50"}, "canny_low"),
        ({"canny_low": "200", "canny_high": "100"}, "canny_low"),
        ({"style_mode": "loud"}, "style_mode"),
        ({"style_ids": "abc,not an id"}, "style_ids"),
        ({"style_ids": ",".join(f"s{i}" for i in range(9))}, "style_ids"),
        ({"num_images": "5"}, "num_images"),
        ({"seed": "-1"}, "seed"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 1001}, "prompt"),
        ({"blend": "perhaps"}, "blend"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(client, fields, field):
    error = assert_error(submit(client, **fields), 422, "invalid_parameter", field)
    assert field in error["message"]
    assert client.get("/v1/renders").json()["total"] == 0  # nothing stored


def test_missing_sketch_or_prompt_is_422(client):
    assert_error(client.post("/v1/renders", data={"prompt": "x"}), 422, "invalid_parameter", "sketch")
    files = {"sketch": ("s.png", sketch_png(), "image/png")}
    assert_error(client.post("/v1/renders", files=files), 422, "invalid_parameter", "prompt")
    assert_error(client.post("/v1/renders", json={"prompt": "x"}), 422, "invalid_parameter")


def test_unknown_style_id_is_422_before_storing(client):
    assert_error(submit(client, style_ids="deadbeef"), 422, "invalid_parameter", "style_ids")
    assert client.get("/v1/renders").json()["total"] == 0


def test_style_ids_repeated_or_comma_separated(client, fake):
    ids = [fake.library.add_bytes(colour_png(c), StyleMeta(title=t))[0].id for c, t in [("red", "r"), ("blue", "b")]]
    files = {"sketch": ("s.png", sketch_png(), "image/png")}
    data = {"prompt": "x", "steps": "2", "size": "64", "style_ids": ids}
    one = wait_for(client, client.post("/v1/renders", data=data, files=files).json()["id"])
    two = wait_for(client, submit(client, style_ids=",".join(ids)).json()["id"])
    for job in (one, two):
        assert job["status"] == "succeeded"
        assert job["params"]["style_ids"] == ids
        assert [h["style"]["id"] for h in job["result"]["styles"]] == ids


@pytest.mark.parametrize(("name", "data", "error"), bad_inputs(), ids=[b[0] for b in bad_inputs()])
def test_bad_sketches_get_their_4xx_and_nothing_is_stored(client, name, data, error):
    response = submit(client, sketch=data)
    assert_error(response, error.http_status, error.code)
    assert client.get("/v1/renders").json()["total"] == 0


def test_a_sketch_without_lines_is_refused_at_submission(client, fake):
    for blank in [colour_png("white"), colour_png("black", size=(300, 200))]:
        error = assert_error(submit(client, sketch=blank), 422, NoEdges.code)
        assert "no edges" in error["message"]
    assert client.get("/v1/renders").json()["total"] == 0 and not fake.calls


def test_service_errors_fail_the_job_with_their_code(harness):
    fake = FakeRenderService(harness.settings(), fail_with=InvalidParameter("guidance too odd", field="x"))
    client, _ = harness.client(service=fake)
    job = wait_for(client, submit(client).json()["id"])
    assert job["status"] == "failed"
    assert job["error"] == {"code": "invalid_parameter", "message": "guidance too odd"}
    assert job["result"] is None and job["urls"]["images"] == []


def test_unexpected_exceptions_fail_the_job_as_internal_error(harness, caplog):
    fake = FakeRenderService(harness.settings(), fail_with=RuntimeError("CUDA kernel exploded at 0xdead"))
    client, _ = harness.client(service=fake)
    job = wait_for(client, submit(client).json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "internal_error"
    assert "0xdead" not in job["error"]["message"] and "RuntimeError" in job["error"]["message"]
    # The worker survives: the next job still runs.
    fake.fail_with = None
    assert wait_for(client, submit(client).json()["id"])["status"] == "succeeded"


def test_jobs_run_in_submission_order(harness):
    fake = FakeRenderService(harness.settings(), gate=threading.Event())
    client, _ = harness.client(service=fake)
    ids = [submit(client, prompt=f"job {i}").json()["id"] for i in range(4)]
    fake.gate.set()
    for job_id in ids:
        wait_for(client, job_id)
    assert [p.prompt for p in fake.calls] == [f"job {i}" for i in range(4)]
    started = [client.get(f"/v1/renders/{i}").json()["started_at"] for i in ids]
    assert started == sorted(started)


def test_history_is_paged_newest_first_and_filtered(client):
    ids = [submit(client, prompt=f"p{i}").json()["id"] for i in range(5)]
    for job_id in ids:
        wait_for(client, job_id)
    page = client.get("/v1/renders?offset=1&limit=2").json()
    assert page["total"] == 5 and page["offset"] == 1 and page["limit"] == 2
    assert [j["id"] for j in page["items"]] == [ids[3], ids[2]]
    assert client.get("/v1/renders?status=succeeded").json()["total"] == 5
    assert client.get("/v1/renders?status=failed").json() == {"items": [], "total": 0, "offset": 0, "limit": 50}
    assert_error(client.get("/v1/renders?status=exploded"), 422, "invalid_parameter", "status")
    assert_error(client.get("/v1/renders?limit=0"), 422, "invalid_parameter", "limit")


def test_history_is_capped_at_max_history(harness):
    client, _ = harness.client(max_history=10)
    ids = [submit(client).json()["id"] for _ in range(12)]
    wait_for(client, ids[-1])
    assert client.get("/v1/renders").json()["total"] == 10
    assert_error(client.get(f"/v1/renders/{ids[0]}"), 404, "not_found")
    assert not (harness.home / "renders" / ids[0]).exists()


# --- idempotency ------------------------------------------------------------------------------
def test_same_key_same_body_returns_the_same_job(client):
    first = submit(client, headers={"Idempotency-Key": "order-1"})
    again = submit(client, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert client.get("/v1/renders").json()["total"] == 1


def test_same_key_different_body_is_422(client):
    submit(client, headers={"Idempotency-Key": "order-2"})
    assert_error(submit(client, headers={"Idempotency-Key": "order-2"}, steps="4"), 422, "idempotency_conflict")
    other_sketch = submit(client, sketch=sketch_png(shift=5), headers={"Idempotency-Key": "order-2"})
    assert_error(other_sketch, 422, "idempotency_conflict", "Idempotency-Key")
    assert client.get("/v1/renders").json()["total"] == 1


def test_idempotency_keys_are_per_api_key(harness):
    client, _ = harness.client(api_keys=["alice", "bob"])
    alice = submit(client, headers={"Idempotency-Key": "k", "Authorization": "Bearer alice"})
    bob = submit(client, headers={"Idempotency-Key": "k", "Authorization": "Bearer bob"})
    assert alice.status_code == bob.status_code == 202 and alice.json()["id"] != bob.json()["id"]


def test_bad_idempotency_key_is_422(client):
    assert_error(submit(client, headers={"Idempotency-Key": "x" * 201}), 422, "invalid_parameter", "Idempotency-Key")


# --- cancellation ---------------------------------------------------------------------------
def test_cancel_queued_and_running(harness):
    fake = FakeRenderService(harness.settings(), gate=threading.Event())
    client, _ = harness.client(service=fake)
    running = submit(client).json()["id"]
    queued = submit(client).json()["id"]
    assert fake.started.wait(5)
    wait_for(client, running, lambda j: j["status"] == "running")
    response = client.delete(f"/v1/renders/{queued}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    response = client.delete(f"/v1/renders/{running}")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    job = wait_for(client, running)
    assert job["status"] == "cancelled" and job["error"] is None
    assert len(fake.calls) == 1  # the queued one never ran
    assert_error(client.delete(f"/v1/renders/{running}"), 409, "conflict")
    assert_error(client.delete(f"/v1/renders/{queued}"), 409, "conflict")


def test_cancel_finished_is_409(client):
    job = wait_for(client, submit(client).json()["id"])
    assert_error(client.delete(f"/v1/renders/{job['id']}"), 409, "conflict")
    assert client.get(f"/v1/renders/{job['id']}").json()["status"] == "succeeded"


# --- server-sent events ---------------------------------------------------------------------
def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_event_stream_reports_progress_and_ends_with_a_terminal_status(harness):
    client, _ = harness.client(service=FakeRenderService(harness.settings(), step_delay=0.08))
    job_id = submit(client, steps="6").json()["id"]
    with client.stream("GET", f"/v1/renders/{job_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.read().decode())
    names = [name for name, _ in events]
    assert names[-2] == "status" and events[-2][1]["status"] == "succeeded"  # the images are ready
    assert events[-1] == ("scores", {"id": job_id, "scores": [{"structure_f1": 0.5}]})  # then the scores
    steps = [data["step"] for name, data in events if name == "progress"]
    assert steps == sorted(steps) and steps and max(steps) <= 6
    assert "running" in [data["status"] for name, data in events if name == "status"]


def test_the_end_of_a_job_reaches_its_stream_with_the_recorded_row(harness):
    """The worker's end-of-job event carries the row as recorded, so the stream reports the end
    without reading the store back; what the stream says is that row."""
    client, _ = harness.client(service=FakeRenderService(harness.settings(), step_delay=0.05))
    runtime, published = client.app.state.runtime, []
    original = runtime.worker.events.publish
    runtime.worker.events.publish = lambda job_id, kind, data=None: (
        published.append((kind, data)) or original(job_id, kind, data)
    )
    job_id = submit(client, steps="3").json()["id"]
    with client.stream("GET", f"/v1/renders/{job_id}/events") as response:
        events = _events(response.read().decode())
    ended = [data["job"] for kind, data in published if kind == "status" and data]
    assert len(ended) == 1 and ended[0].id == job_id and ended[0].status == "succeeded"
    streamed = next(data for name, data in events if name == "status" and data["status"] == "succeeded")
    assert streamed["finished_at"] == ended[0].finished_at and len(streamed["urls"]["images"]) == ended[0].images == 1


def test_event_stream_of_a_cancelled_job_ends(harness):
    fake = FakeRenderService(harness.settings(), gate=threading.Event())
    client, _ = harness.client(service=fake)
    submit(client)
    queued = submit(client).json()["id"]
    client.delete(f"/v1/renders/{queued}")
    with client.stream("GET", f"/v1/renders/{queued}/events") as response:
        events = _events(response.read().decode())
    assert events == [("status", events[0][1])] and events[0][1]["status"] == "cancelled"
    fake.gate.set()


# --- the input sketch -----------------------------------------------------------------------
def _png_size_and_mode(data: bytes) -> tuple[tuple[int, int], str]:
    with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
        return image.size, image.mode


def test_sketch_is_served_as_png_from_submission_on(harness):
    gate = threading.Event()
    client, _ = harness.client(service=FakeRenderService(harness.settings(), gate=gate))
    rgba = Image.new("RGBA", (90, 60), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).line((5, 5, 80, 50), fill=(0, 0, 0, 255), width=3)
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    job_id = submit(client, buffer.getvalue()).json()["id"]
    job = client.get(f"/v1/renders/{job_id}").json()
    assert job["status"] in {"queued", "running"} and job["urls"]["sketch"] == f"/v1/renders/{job_id}/sketch"
    response = client.get(job["urls"]["sketch"])  # before the render ends: the input exists from the 202 on
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert _png_size_and_mode(response.content) == ((90, 60), "RGB")  # alpha flattened onto white
    assert Image.open(io.BytesIO(response.content)).getpixel((0, 0)) == (255, 255, 255)
    assert client.get(job["urls"]["sketch"]).content == response.content  # cached, same bytes
    gate.set()
    assert wait_for(client, job_id)["status"] == "succeeded"
    assert client.get(job["urls"]["sketch"]).content == response.content


def test_sketch_has_exif_orientation_applied(client):
    image = Image.open(io.BytesIO(sketch_png((96, 64))))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    job_id = submit(client, buffer.getvalue()).json()["id"]
    assert _png_size_and_mode(client.get(f"/v1/renders/{job_id}/sketch").content) == ((64, 96), "RGB")


def test_sketch_of_an_unknown_job_or_a_lost_input_is_404(client):
    for job_id in ["0" * 32, "nope", "..%2F..%2Fjobs.sqlite3"]:
        assert_error(client.get(f"/v1/renders/{job_id}/sketch"), 404, "not_found")
    job_id = wait_for(client, submit(client).json()["id"])["id"]
    (client.app.state.runtime.store.job_dir(job_id) / INPUT_NAME).unlink()
    assert_error(client.get(f"/v1/renders/{job_id}/sketch"), 404, "not_found", "id")


def test_the_worker_renders_the_sketch_the_post_decoded_and_the_same_image_without_it(harness):
    """Decode once: the POST hands its resized sketch to the worker; a job without the hand-over
    (a restart, a dropped entry) decodes its stored input and renders the same image."""
    client, fake = harness.client()
    handed = wait_for(client, submit(client).json()["id"])
    sketches = client.app.state.runtime.sketches
    sketches.max_pixels = 0  # nothing is handed over any more: the worker decodes the input file
    decoded = wait_for(client, submit(client).json()["id"])
    assert len(sketches) == 0
    image = lambda job: client.get(job["urls"]["images"][0]).content  # noqa: E731
    assert handed["status"] == decoded["status"] == "succeeded"
    assert image(handed) == image(decoded)


def test_with_caches_off_the_post_hands_nothing_over_and_the_image_is_the_same(harness, monkeypatch):
    client, _ = harness.client()
    first = client.get(wait_for(client, submit(client).json()["id"])["urls"]["images"][0]).content
    harness.close(client)
    client, _ = harness.client(caches="off")
    sketches, taken = client.app.state.runtime.sketches, []
    take = sketches.take
    monkeypatch.setattr(sketches, "take", lambda request_hash: taken.append(take(request_hash)) or taken[-1])
    job = wait_for(client, submit(client).json()["id"])
    assert job["status"] == "succeeded" and taken == [None] and len(sketches) == 0  # decoded from the stored input
    assert client.get(job["urls"]["images"][0]).content == first


def test_a_render_is_reported_with_its_images_and_its_scores_follow(harness):
    """The worker reports a render as succeeded once its PNGs are written; the quality scores
    are filled in after that (scores_pending until then), and stay out of the PNG."""
    client, _ = harness.client()
    runtime = client.app.state.runtime
    seen: list[dict] = []
    original = runtime.worker.events.publish

    def spy(job_id, kind, data=None):  # the job view at the moment each event is pushed
        if kind in ("status", "scores"):
            seen.append({**client.get(f"/v1/renders/{job_id}").json(), "event": kind})  # the view has a "kind" too
        original(job_id, kind, data)

    runtime.worker.events.publish = spy
    job = wait_for(client, submit(client).json()["id"])
    # the job row ends a moment before the worker pushes its events
    eventually(lambda: any(v["event"] == "scores" for v in seen), 30, 0.01, what=lambda: f"a scores event: {seen}")
    succeeded = next(v for v in seen if v["event"] == "status" and v["status"] == "succeeded")
    assert succeeded["scores_pending"] and succeeded["result"]["scores"] == []
    assert client.get(succeeded["urls"]["images"][0]).status_code == 200  # the image is already there
    scored = next(v for v in seen if v["event"] == "scores")
    assert not scored["scores_pending"] and scored["result"]["scores"] == [{"structure_f1": 0.5}]
    job = client.get(f"/v1/renders/{job['id']}").json()
    assert job["result"]["scores"] == [{"structure_f1": 0.5}] and not job["scores_pending"]
    assert read_recipe(client.get(job["urls"]["images"][0]).content).scores == []  # the PNG never changes
    sidecar = json.loads((harness.home / "renders" / job["id"] / "render.json").read_text())
    assert sidecar["scores"] == [{"structure_f1": 0.5}]


def test_the_next_render_does_not_wait_for_the_last_ones_scores(harness):
    """The scores are computed on their own thread: while the first render's scores are held
    back, the second render runs and succeeds; then the first one's scores still arrive."""
    client, fake = harness.client()
    release, render = threading.Event(), fake.render

    def held_first(*args, **kwargs):
        result = render(*args, **kwargs)
        if result.pending_scores is not None and not held:
            scores = result.pending_scores
            held.append(True)
            result.pending_scores = lambda: release.wait(30) and scores()
        return result

    held: list[bool] = []
    fake.render = held_first
    first = wait_for(client, submit(client).json()["id"])
    second = wait_for(client, submit(client, seed="8").json()["id"])
    assert first["status"] == second["status"] == "succeeded"
    assert client.get(f"/v1/renders/{first['id']}").json()["scores_pending"]  # still held while the second ran
    release.set()
    scored = wait_for(client, first["id"], until=lambda job: not job["scores_pending"])
    assert scored["result"]["scores"] == [{"structure_f1": 0.5}]
    assert wait_for(client, second["id"], until=lambda job: not job["scores_pending"])["result"]["scores"]
