"""Render jobs over HTTP: submit (multipart sketch + parameters, 202), list, status, images, the
input sketch, cancel, and a server-sent event stream of progress.

A submission is checked completely before it is stored: form fields by name and value (the form
model `RenderForm`: an unknown one is a 422 naming it), parameters through `RenderParams` (422 naming
the field), the sketch through `imaging.decode_upload` (its own 4xx) and its control image (a sketch
with no lines is a 422), style ids against the library, then the room on the disk (507 below
`S2R_MIN_FREE_MB`). Only then are the input file and the job row written, then 202; a full disk or
a read-only data folder met while writing is a 507 or a 503 saying so (`storage.py`), never a 500.

Every job belongs to the principal that submitted it: the routes on one job get it through
`deps.OwnedJob` (another principal's job is a 404), the list shows the caller's own jobs (admins:
`?all=true` for everyone's), and the queue caps each principal (`JobStore.owner_max`).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ...errors import Conflict, Forbidden, InvalidParameter, NotFound, PrincipalQueueFull, ShuttingDown
from ...files import atomic_write
from ...jobs.events import PREVIEW, PROGRESS
from ...jobs.history import HistoryIndex, HistoryQuery
from ...jobs.job import JobInputs
from ...jobs.store import INPUT_NAME, Job, JobStatus, JobStore
from ...render.outputs import existing_control_path, image_paths, preview_path
from ...schemas import RenderParams
from ...sketch import imaging
from ...sketch.control import CONTROL_TYPES
from ...sketch.prepare import decode_sketch, prepare_sketch
from ...storage import require_room, storing
from ..deps import (
    Caller,
    IdempotencyKey,
    OwnedJob,
    RuntimeDep,
    SettingsDep,
    StoreDep,
    WorkerDep,
    check_style_ids,
    request_scope,
)
from ..forms import RenderForm
from ..handlers import ERROR_RESPONSES, JSON_ERROR_RESPONSES
from ..regions import region_inputs
from ..views import JobAccepted, JobList, JobSummary, JobView, job_scores, job_summary, job_view

router = APIRouter(prefix="/v1/renders", tags=["renders"], responses=ERROR_RESPONSES)
PNG = {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}, "description": "PNG"}
SKETCH_NAME = "sketch.png"  # the input re-encoded as PNG, cached beside it on the first GET /sketch
SSE_RECHECK_S = 5.0  # a stream re-reads its job this often when no event came (safety net)


def _request_hash(params: RenderParams, sketch: bytes) -> str:
    digest = hashlib.sha256(params.model_dump_json().encode())
    digest.update(hashlib.sha256(sketch).digest())
    return digest.hexdigest()


def _idempotency_key(value: str | None, principal: str) -> str | None:
    if value is None:
        return None
    if not (1 <= len(value) <= 200 and value.isprintable()):
        raise InvalidParameter("Idempotency-Key must be 1 to 200 printable characters", field="Idempotency-Key")
    return f"{principal}:{value}"  # one caller's key never matches another caller's job


@router.post(
    "",
    status_code=202,
    response_model=JobAccepted,
    responses={200: {"model": JobAccepted, "description": "Replay: this Idempotency-Key already made this job"}},
    summary="Submit a render: the job is stored before the answer (202); poll or stream it",
    operation_id="renders-submit",
)
def submit_render(
    runtime: RuntimeDep,
    settings: SettingsDep,
    store: StoreDep,
    worker: WorkerDep,
    caller: Caller,
    form: Annotated[RenderForm, Form(media_type="multipart/form-data")],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    # Every check a submission passes before it is stored, in order.
    # 1. Fields were checked by name and value (`RenderForm`), now as `RenderParams` (422 naming the field); the key.
    params, models = runtime.choose_family(form.params())  # 422 naming `family`; the family's defaults
    if settings.commercial_only:  # the server's rule, kept with the job
        params = params.model_copy(update={"commercial_only": True})
    sketch, live_session, region_mask = form.sketch, form.live_session, form.region_mask
    key = _idempotency_key(idempotency_key, caller.name)
    if live_session is not None and params.speed != "live":
        raise InvalidParameter("live_session: only with speed=live", field="live_session")
    if runtime.stopping.is_set():
        raise ShuttingDown("the server is shutting down; submit again in a moment")
    runtime.require_dependencies()  # a Chroma server or Ray cluster away: a 503 naming it, at once
    # 2. The sketch must decode (bad files get their 4xx) and have lines; the styles must exist.
    data = sketch.file.read(settings.max_upload_bytes + 1)
    decoded = decode_sketch(data, params, settings.limits, full_size=bool(region_mask))  # masks: the full size
    params, files = region_inputs(region_mask, form.region_prompt, params, sketch_size=decoded.size, settings=settings)
    # `models`: which ControlNets the family has here (None: a stand-in without a model set)
    available = models.control_types if models is not None else CONTROL_TYPES
    # what the worker renders from, and the control image it will use: a sketch without lines for it is a 422 now
    prepared = prepare_sketch(decoded, params, settings.limits, available=available)
    image, built = prepared.image, prepared.control
    scope = request_scope(runtime, caller, commercial_only=params.commercial_only, collection=params.collection)
    check_style_ids(runtime, params.style_ids, scope)
    if models is not None and params.control != "auto" and params.control not in models.control_types:
        message = (
            f"control: the {models.family} family has no {params.control} ControlNet here "
            f"(it has {', '.join(models.control_types)})"
        )
        raise InvalidParameter(message, field="control")
    # 3. Room: the files and the reserve (S2R_MIN_FREE_MB) must fit on the disk (507 saying its free space).
    require_room(store.renders_dir, settings.min_free_mb, len(data) + sum(map(len, files.values())))
    # 4. Store (input file, then the row, owned by the caller), wake the worker, answer. The in-process
    #    worker gets the decoded sketch and its control map (by request hash: it may claim the row at once).
    #    A full disk while storing is a 507, a read-only data folder a 503 (storage.storing).
    request_hash = _request_hash(params, data)
    if runtime.ray is None and not params.regions:  # region masks are the full sketch's size
        runtime.sketches.put(request_hash, image, built if models is not None else None)
    try:
        with storing(store.renders_dir):
            job, created = store.submit(
                data,
                params.model_dump(mode="json"),
                idempotency_key=key,
                request_hash=request_hash,
                owner=caller.name,
                live_session=live_session,
                inputs=JobInputs(files=files),
            )
    except PrincipalQueueFull:
        runtime.sketches.discard(request_hash)
        runtime.metrics.principal_refused.labels(caller.name, "queue").inc()
        raise
    except BaseException:
        runtime.sketches.discard(request_hash)
        raise
    if created:
        runtime.metrics.principal_submitted.labels(caller.name).inc()
        worker.notify()
    else:
        runtime.sketches.discard(request_hash)
    body = JobAccepted(id=job.id, status=job.status, url=f"/v1/renders/{job.id}").model_dump(mode="json")
    headers = {"Location": body["url"]}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=202 if created else 200, headers=headers)


@router.get(
    "",
    response_model=JobList,
    summary="Your render history, newest first (admins: everyone's with all=true); search it with q, style, collection",
    operation_id="renders-list",
)
def list_renders(
    request: Request,
    store: StoreDep,
    caller: Caller,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: JobStatus | None = None,
    all: Annotated[bool, Query(description="every principal's jobs (admins only; 403 for users)")] = False,
    q: Annotated[str | None, Query(max_length=1000, description="words of the prompt or a region prompt")] = None,
    style: Annotated[str | None, Query(max_length=64, description="renders that used this style")] = None,
    collection: Annotated[str | None, Query(max_length=64, description="renders bound to this collection")] = None,
) -> dict:
    if all and not caller.is_admin:
        raise Forbidden(f"{caller.name!r} has role {caller.role}; only admins may list every principal's jobs")
    if q or style or collection:  # history search (jobs/history.py): the same owners as the list
        owner = None if all else caller.name
        query = HistoryQuery(q or "", style, collection, owner, caller.is_admin, str(status) if status else None)
        jobs, total = history_index(request, store).search(query, offset, limit)
    elif all:
        jobs, total = store.list(offset, limit, status)
    else:  # an admin's own list also holds the jobs from before principals (every key was an admin)
        jobs, total = store.list(offset, limit, status, owner=caller.name, unowned=caller.is_admin)
    return {"items": [job_summary(j) for j in jobs], "total": total, "offset": offset, "limit": limit}


_history_lock = threading.Lock()


def history_index(request: Request, store: JobStore) -> HistoryIndex:
    """The app's word index over its jobs database (made on first use)."""
    with _history_lock:
        index = getattr(request.app.state, "history_index", None)
        if index is None or index.database is not store.database:  # a restarted runtime has a new store
            index = request.app.state.history_index = HistoryIndex(store.database)
    return index


@router.get(
    "/{job_id}",
    response_model=JobView,
    summary="Status, progress, parameters, result (recipe)",
    operation_id="renders-get",
)
def get_render(job: OwnedJob) -> dict:
    return job_view(job)


def _finished_file(job: Job, pick) -> FileResponse:
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(f"render {job.id} has no images: it is {job.status}", field="id")
    path = pick(job)
    if not path.is_file():
        raise NotFound(f"the output of render {job.id} is missing on disk", field="id")
    return FileResponse(path, media_type="image/png")


@router.get(
    "/{job_id}/image",
    response_class=Response,
    responses={200: PNG},
    summary="A rendered image",
    operation_id="renders-image",
)
def render_image(
    job: OwnedJob,
    store: StoreDep,
    index: Annotated[int, Query(ge=0, le=16, description="which image, from 0")] = 0,
) -> FileResponse:
    def pick(job):
        if index >= job.images:
            raise NotFound(f"render {job.id} has {job.images} image(s); index {index} is out of range", field="index")
        return image_paths(store.job_dir(job.id), job.images)[index]

    return _finished_file(job, pick)


@router.get(
    "/{job_id}/control",
    response_class=Response,
    responses={200: PNG},
    summary="The control image ControlNet followed (edges, lineart or scribble)",
    operation_id="renders-control",
)
def render_control(job: OwnedJob, store: StoreDep) -> FileResponse:
    return _finished_file(job, lambda job: existing_control_path(store.job_dir(job.id)))


@router.get(
    "/{job_id}/edges",
    response_class=Response,
    responses={200: PNG},
    summary="The control image: the old name of /control, kept for existing clients",
    operation_id="renders-edges",
    deprecated=True,
)
def render_edges(job: OwnedJob, store: StoreDep) -> FileResponse:
    return render_control(job, store)


def _cache(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, or not at all (the job may be pruned meanwhile)."""
    with contextlib.suppress(OSError):
        atomic_write(path, data, durable=False)


@router.get(
    "/{job_id}/sketch",
    response_class=Response,
    responses={200: PNG},
    summary="The uploaded sketch, re-encoded as PNG (EXIF orientation applied, RGB)",
    operation_id="renders-sketch",
)
def render_sketch(job: OwnedJob, settings: SettingsDep, store: StoreDep) -> Response:
    job_id = job.id
    directory = store.job_dir(job.id)
    source, cached = directory / INPUT_NAME, directory / SKETCH_NAME
    if not source.is_file():  # the sketch exists exactly as long as the job's input does
        raise NotFound(f"the sketch of render {job_id} is missing on disk", field="id")
    try:
        return Response(cached.read_bytes(), media_type="image/png")
    except FileNotFoundError:
        pass
    try:
        with source.open("rb") as f:
            data = f.read(settings.max_upload_bytes + 1)
    except FileNotFoundError:
        raise NotFound(f"the sketch of render {job_id} is missing on disk", field="id") from None
    png = imaging.encode_png(imaging.decode_upload(data, settings.limits))
    _cache(cached, png)
    return Response(png, media_type="image/png")


@router.delete(
    "/{job_id}",
    response_model=JobView,
    status_code=200,
    responses={202: {"model": JobView, "description": "Running: cancellation requested"}},
    summary="Cancel: a queued job at once, a running one at its next step; a finished one is a 409",
    operation_id="renders-cancel",
)
def cancel_render(job: OwnedJob, worker: WorkerDep) -> JSONResponse:
    job = worker.cancel(job.id)
    body = JobView.model_validate(job_view(job)).model_dump(mode="json")
    return JSONResponse(body, status_code=202 if job.status == JobStatus.RUNNING else 200)


@router.get(
    "/{job_id}/preview",
    response_class=Response,
    responses={200: PNG},
    summary="The newest preview of a running render (small, decoded with TAESD every few steps)",
    operation_id="renders-preview",
)
def render_preview(
    job: OwnedJob,
    store: StoreDep,
    step: Annotated[
        int | None, Query(ge=0, le=10_000, description="the step of its `preview` event (cache key)")
    ] = None,
) -> Response:
    try:
        return Response(preview_path(store.job_dir(job.id)).read_bytes(), media_type="image/png")
    except FileNotFoundError:
        raise NotFound(f"render {job.id} has no preview (yet)", field="id") from None


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses=JSON_ERROR_RESPONSES,
    summary="Server-sent events: `status`, `progress`, `preview` as they happen, then `scores`; until the job ends",
    operation_id="renders-events",
)
async def render_events(job: OwnedJob, runtime: RuntimeDep, store: StoreDep) -> AsyncIterator[ServerSentEvent]:
    """`status` on every change of status, `progress` on every step, `preview` ({id, step, url})
    when a new preview image is ready; a succeeded job's `scores` ({id, scores}: the quality
    scores, computed after the images are reported) come last; then the stream ends. Events are pushed by the
    worker as they happen (jobs/events.py); the store is re-read only for a status, and every few
    seconds as a safety net. FastAPI adds a keep-alive comment after 15 s of quiet."""
    with runtime.events.listen(job.id) as listener:  # subscribed before reading: nothing is missed
        job = await anyio.to_thread.run_sync(store.get, job.id)
        yield ServerSentEvent(event="status", data=JobSummary.model_validate(job_summary(job)))
        last_status = job.status
        while not job.terminal and not runtime.stopping.is_set():
            event = await listener.next(SSE_RECHECK_S)
            if event is not None and event.kind == PROGRESS:
                progress = {"id": job.id, "status": JobStatus.RUNNING, **event.data}
                yield ServerSentEvent(event="progress", data=progress)
                continue
            if event is not None and event.kind == PREVIEW:
                url = f"/v1/renders/{job.id}/preview?step={event.data.get('step', 0)}"
                yield ServerSentEvent(event="preview", data={"id": job.id, **event.data, "url": url})
                continue
            if runtime.stopping.is_set():
                return
            try:  # a status event (the end carries the job's record), or quiet for a while: the store has it
                recorded = event.data.get("job") if event is not None else None
                job = recorded if isinstance(recorded, Job) else await anyio.to_thread.run_sync(store.get, job.id)
            except Exception:  # pruned or the store closed under us: end the stream
                return
            if job.status != last_status:
                last_status = job.status
                yield ServerSentEvent(event="status", data=JobSummary.model_validate(job_summary(job)))
        # Succeeded: the images are there; the quality scores follow (jobs/deferred_scores.py), then the end.
        while job.status == JobStatus.SUCCEEDED and job.scores_pending and not runtime.stopping.is_set():
            await listener.next(SSE_RECHECK_S)  # the `scores` event (or quiet: the safety-net re-read)
            try:
                job = await anyio.to_thread.run_sync(store.get, job.id)
            except Exception:
                return
        if job.status == JobStatus.SUCCEEDED and not job.scores_pending:
            yield ServerSentEvent(event="scores", data={"id": job.id, "scores": job_scores(job)})
