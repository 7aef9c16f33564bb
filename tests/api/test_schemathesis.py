"""Schemathesis over /openapi.json on the fake service, with a key set and every check on: no 5xx,
responses conform (status codes, schemas, content types, headers), schema-valid requests are
accepted and schema-violating ones refused, every operation refuses a request without the key;
then the stateful phase follows the document's links (add style -> get/image/delete and a render
with it -> its status, image, cancel, preview, edit, upscale and rating: a test asserts the state
machine has a rule for each), and every link is followed once from a real response.

What a schema cannot say is supplied by hooks on this schema only: an upload that the schema
allows (any non-empty bytes) is replaced by a real drawing, since no schema can say which bytes
decode as a sketch with lines; `control_start >= control_end` and `canny_low > canny_high`
(constraints between two fields) are made valid, an edit's `mask` gets its render's size and
`image` (which image of a render) is 0, and `style_ids` (ids must exist in the library; the link
from an added style gives a real one) and region masks (`region_mask` with its `region_prompt`: a
mask must have its sketch's size) are left out. A bulk import's `archive` and `metadata` are a real
zip of one style and a CSV that names it. The stateful phase sends no Idempotency-Key (see
`Workflow.before_call`).

Checks left out, each for a stated reason:
- `negative_data_rejection` on the two multipart uploads (`POST /v1/renders`, `POST /v1/styles`):
  every multipart value travels as text, so some schema-violating values arrive as valid text
  (an object `{}` as the tag "{}"), and schemathesis 4.32 judges a mapped upload's bytes as an
  empty string against `minLength: 1`. Unknown fields, bad enums, bounds and empty files are
  refused there all the same (tests/api/test_renders.py, test_principals.py); every other
  operation runs this check.
- `use_after_free` in the stateful phase: `DELETE /v1/renders/{id}` cancels a render (the
  contract's name for it) and the cancelled render stays readable, by design.

Schemathesis binds operations to the app when the test is collected, so the app object exists at
import; nothing starts until the first request (its lifespan), and the fake service is handed
to it by the module fixture."""

from __future__ import annotations

import copy
import io
import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.config import InferenceAlgorithm
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import negative_data_rejection, use_after_free
from schemathesis.transport.serialization import Binary
from sqlalchemy.exc import ResourceClosedError
from waiting import eventually

from api.conftest import colour_png, sketch_png, wait_for
from api.fakes import FakeRenderService
from sketch2render.api import create_app
from sketch2render.config import Settings
from sketch2render.errors import NotFound
from sketch2render.jobs.job import is_job_id
from sketch2render.jobs.store import JobStatus
from sketch2render.render.outputs import image_paths

KEY = "schemathesis-key"
HOME = Path(tempfile.mkdtemp(prefix="s2r-schemathesis-"))
# A full queue (503 readyz) and the fair-use limits are tested elsewhere.
SETTINGS = Settings(home=HOME, api_keys=[KEY], queue_max=10_000, queue_max_per_principal=10_000, rate_limit=0)
APP = create_app(SETTINGS, shutdown_grace=0.5)
schema = schemathesis.openapi.from_dict(copy.deepcopy(APP.openapi()))  # it adds the links it infers to its copy
schema.app = APP
UPLOADS = {"sketch": sketch_png(), "image": colour_png("red")}


def _zip_of_one_style() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("style.png", colour_png("blue"))
    return buffer.getvalue()


IMPORT_UPLOADS = {"archive": _zip_of_one_style(), "metadata": b"file,title\nstyle.png,Blue\n"}


@schema.auth()
class KeyAuth:
    """The key, on every case but those that test a missing or wrong key."""

    def get(self, case, context):
        return KEY

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.hook
def map_case(context, case):
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    if isinstance(case.body, dict) and not negative:  # a negative case stays as invalid as it was made
        case.body = valid_form(case.body, edit_mask((case.path_parameters or {}).get("job_id")))
    return case


def edit_mask(job_id) -> bytes | None:
    """For an edit of a finished render: a mask the size of its first image (else None)."""
    store = APP.state.runtime.store
    if not isinstance(job_id, str) or not is_job_id(job_id) or store is None or store.closed:
        return None
    try:
        job = store.get(job_id)
        with Image.open(image_paths(store.job_dir(job_id), job.images)[0]) as image:
            size = image.size
    except (NotFound, OSError, IndexError):
        return None
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, format="PNG")
    return buffer.getvalue()


def valid_form(body: dict, mask: bytes | None = None) -> dict:
    """Make a generated form satisfy what its schema cannot say (see the module docstring)."""
    body = dict(body)
    if mask is not None and isinstance(body.get("mask"), Binary):  # an edit's mask: the render's size
        body["mask"] = Binary(mask)
    if isinstance(body.get("image"), int) and not isinstance(body["image"], bool):  # which image: one it has
        body["image"] = 0
    for field, real in UPLOADS.items():
        value = body.get(field)
        if isinstance(value, Binary) and value.data:  # non-empty bytes, as the schema allows: make them decode
            body[field] = Binary(real)
    for field, real in IMPORT_UPLOADS.items():  # a bulk import: a zip of images and metadata that parses
        if field in body:
            body[field] = Binary(real)

    def number(name, low, high):
        value = body.get(name)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
        return value if ok else None

    start, end = number("control_start", 0, 1), number("control_end", 0, 1)
    if start is not None and start >= (1.0 if end is None else end):
        body["control_start"] = 0.0
        start = 0.0
    if end is not None and end <= (0.0 if start is None else start):
        body["control_end"] = 1.0
    low, high = number("canny_low", 0, 255), number("canny_high", 0, 255)
    if low is not None and high is not None and low > high:
        body["canny_low"], body["canny_high"] = high, low
    if isinstance(body.get("style_ids"), list) and all(isinstance(v, str) for v in body["style_ids"]):
        body.pop("style_ids")  # ids must exist in the library
    for field in ("region_mask", "region_prompt"):  # a mask must fit its sketch; one prompt per mask
        body.pop(field, None)
    if mask is None:
        body.pop("mask", None)
    return body


@pytest.fixture(scope="module", autouse=True)
def _fake_service():
    APP.state.runtime.use(FakeRenderService(SETTINGS))  # instead of loading models
    yield
    shutdown_lifespans()
    shutil.rmtree(HOME, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case):
    case.call_and_validate(excluded_checks=excluded(case))


def excluded(case) -> list:
    """`negative_data_rejection` is off for the two multipart uploads only (see the docstring)."""
    return [negative_data_rejection] if case.operation.method.upper() == "POST" else []


REACHED: dict[str, set[int]] = {}  # operations the stateful phase called, with the statuses they answered


# The stateful phase leaves out what no link leads to (/v1/feedback) and the render's control image
# (and its /edges alias), sketch and events (like its image, and every link is followed in
# test_every_link_leads_to_its_operation):
# its steps go to the links that need a finished render (preview, edit, upscale, rating).
STATEFUL = schema.exclude(path="/v1/feedback").exclude(
    path_regex=r"^/v1/renders/\{job_id\}/(edges|control|sketch|events)$"
)
STATEFUL.config.phases.stateful.inference.algorithms = [InferenceAlgorithm.LOCATION_HEADERS]  # the links declared


class Workflow(STATEFUL.as_state_machine()):
    def setup(self):
        """Each scenario starts from the same server state: no style left by an earlier scenario
        or test (a link's rule is allowed or not by what earlier answers held), no render running."""
        library = APP.state.runtime.library
        for record in library.list(0, 10_000):
            library.remove(record.id)
        store = APP.state.runtime.store
        if store is None:  # the app's lifespan has not started yet: nothing runs
            return
        try:
            waiting = store.list(0, 10_000, JobStatus.RUNNING)[0] + store.list(0, 10_000, JobStatus.QUEUED)[0]
        except ResourceClosedError:  # its lifespan ended (the next call starts a new one)
            return
        for job in waiting:
            finished(job.id)

    def before_call(self, case):
        """No Idempotency-Key: a key sent again in a later scenario would make a replay (200) of what
        was a new job (202), and the links allowed would depend on earlier scenarios."""
        super().before_call(case)
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "idempotency-key"}

    def after_call(self, response, case):
        super().after_call(response, case)
        REACHED.setdefault(f"{case.operation.method.upper()} {case.operation.path}", set()).add(response.status_code)
        if (
            case.operation.method.upper() == "POST"
            and response.status_code == 202
            and "/renders" in case.operation.path
        ):
            finished(response.json()["id"])  # every later step sees the same state, however fast the machine

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        skip = [use_after_free, *excluded(case)]
        case.validate_response(response, additional_checks=additional_checks, excluded_checks=skip)


def finished(job_id: str, timeout: float = 30.0) -> None:
    """Wait until the fake render of this job has ended: a link followed from it (its image, its
    cancel) then answers the same whether the machine is fast or slow, so a scenario replays the
    same (hypothesis' FlakyStrategyDefinition otherwise: the allowed rules depend on the answers)."""
    store = APP.state.runtime.store
    eventually(lambda: store.get(job_id).terminal, timeout, 0.005, what=f"render {job_id} to end")


TestStateful = Workflow.TestCase
TestStateful.settings = settings(  # derandomized: the same 15 scenarios every run (a random one once
    # failed inside the full suite and could not be replayed: FlakyStrategyDefinition)
    max_examples=60,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def test_the_stateful_phase_follows_the_style_and_render_links():
    """The state machine schemathesis builds from the document has a rule for each link from a
    submitted render (its preview, edit, upscale and rating), and the stateful phase above reached
    the style links and submitted renders. Which linked rules a run then takes is hypothesis' choice
    (timing decides which answers come back while other tests load the machine), so that is not
    asserted here; test_every_link_leads_to_its_operation follows every link for real."""
    rules = {name for name in dir(Workflow) if name.startswith("POST_v1_renders___202_")}
    for link, operation in [
        ("RenderPreview", "GET_v1_renders_job_id_preview"),
        ("EditRender", "POST_v1_renders_job_id_edit"),
        ("UpscaleRender", "POST_v1_renders_job_id_upscale"),
        ("RateRender", "POST_v1_renders_job_id_feedback"),
    ]:
        assert f"POST_v1_renders___202_{link}__{operation}" in rules, sorted(rules)
    assert {"GET /v1/styles/{style_id}", "DELETE /v1/styles/{style_id}"} <= REACHED.keys(), REACHED
    assert 202 in REACHED.get("POST /v1/renders", set()), REACHED


def test_every_link_leads_to_its_operation(harness):
    """Each declared link, followed from a real response as a client would (`$response.body#/id`),
    reaches its operation: the render links (to a finished render: the edit, upscale and rating need
    one; a cancel of it is a 409) and the style links (the last one: a render with the style)."""
    client, _ = harness.client()
    spec = client.get("/openapi.json").json()
    operations = {
        op["operationId"]: (method.upper(), path) for path, ops in spec["paths"].items() for method, op in ops.items()
    }
    form = {"prompt": "a house", "steps": "4", "size": "64"}  # 4 steps: the fake shows a preview at step 2
    submitted = client.post("/v1/renders", data=form, files={"sketch": ("s.png", sketch_png())})
    wait_for(client, submitted.json()["id"])
    with Image.open(io.BytesIO(client.get(f"/v1/renders/{submitted.json()['id']}/image").content)) as image:
        buffer = io.BytesIO()
        Image.new("L", image.size, 255).save(buffer, format="PNG")  # all of it, at the render's size
    mask = buffer.getvalue()
    bodies = {
        "renders-edit": {"data": {"prompt": "gold"}, "files": {"mask": ("m.png", mask)}},
        "renders-feedback": {"json": {"rating": "up"}},
        "renders-submit": {"data": form, "files": {"sketch": ("s.png", sketch_png())}},
    }
    added = client.post("/v1/styles", files={"image": ("s.png", colour_png("blue"))})
    for source, response in [("renders-submit", submitted), ("styles-add", added)]:
        links = spec["paths"][operations[source][1]]["post"]["responses"][str(response.status_code)]["links"]
        assert len(links) >= 3
        for link in sorted(links.values(), key=lambda link: operations[link["operationId"]][0] == "DELETE"):
            request = dict(bodies.get(link["operationId"], {}))
            ((parameter, expression),) = (link.get("parameters") or link["requestBody"]).items()
            assert expression == "$response.body#/id"
            method, path = operations[link["operationId"]]
            if "requestBody" in link:  # the id goes into the form
                request["data"] = {**request["data"], parameter: response.json()["id"]}
            answer = client.request(method, path.replace("{" + parameter + "}", response.json()["id"]), **request)
            assert answer.status_code in {200, 202, 409}, (link, answer.text)  # 409: a finished render's cancel
