"""Render jobs over HTTP: submit (multipart sketch + parameters, 202), list, status, images, the
input sketch, cancel, and a server-sent event stream of progress.

A submission is checked completely before it is stored: parameters through `RenderParams`
(422 naming the field), the sketch through `imaging.decode_upload` (its own 4xx), style ids
against the library. Only then are the input file and the job row written, then 202.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, File, Header, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ... import imaging
from ...errors import Conflict, InvalidParameter, NotFound, ShuttingDown
from ...jobs.store import INPUT_NAME, Job, JobStatus, is_job_id
from ...render.outputs import edges_path, image_paths
from ...schemas import RenderParams
from ..deps import Principal, RuntimeDep, SettingsDep, StoreDep, WorkerDep
from ..forms import render_params
from ..handlers import ERROR_RESPONSES, JSON_ERROR_RESPONSES
from ..views import JobAccepted, JobList, JobSummary, JobView, job_summary, job_view

router = APIRouter(prefix="/v1/renders", tags=["renders"], responses=ERROR_RESPONSES)
PNG = {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}, "description": "PNG"}
SKETCH_NAME = "sketch.png"  # the input re-encoded as PNG, cached beside it on the first GET /sketch
SSE_POLL_S = 0.2


def _job_id(job_id: str) -> str:
    if not is_job_id(job_id):
        raise NotFound(f"no render with id {job_id!r}", field="id")
    return job_id


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
)
def submit_render(
    runtime: RuntimeDep,
    settings: SettingsDep,
    store: StoreDep,
    worker: WorkerDep,
    principal: Principal,
    sketch: Annotated[UploadFile, File(description="the line drawing: PNG, JPEG, WEBP, GIF or BMP")],
    params: Annotated[RenderParams, Depends(render_params)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    # 1. Parameters were validated by `render_params` (422 naming the field); then the key.
    key = _idempotency_key(idempotency_key, principal)
    if runtime.stopping.is_set():
        raise ShuttingDown("the server is shutting down; submit again in a moment")
    # 2. The sketch must decode (bad files get their 4xx), the styles must exist.
    data = sketch.file.read(settings.max_upload_bytes + 1)
    imaging.decode_upload(data, settings.limits)
    if runtime.service is not None:
        for style_id in params.style_ids:
            if style_id not in runtime.service.library:
                raise InvalidParameter(f"style_ids: no style with id {style_id!r}", field="style_ids")
    # 3. Store (input file, then the row), wake the worker, answer.
    job, created = store.submit(
        data, params.model_dump(mode="json"), idempotency_key=key, request_hash=_request_hash(params, data)
    )
    if created:
        worker.notify()
    body = JobAccepted(id=job.id, status=job.status, url=f"/v1/renders/{job.id}").model_dump(mode="json")
    headers = {"Location": body["url"]}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=202 if created else 200, headers=headers)


@router.get("", response_model=JobList, summary="Render history, newest first")
def list_renders(
    store: StoreDep,
    _: Principal,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: JobStatus | None = None,
) -> dict:
    jobs, total = store.list(offset, limit, status)
    return {"items": [job_summary(j) for j in jobs], "total": total, "offset": offset, "limit": limit}


@router.get("/{job_id}", response_model=JobView, summary="Status, progress, parameters, result (recipe)")
def get_render(job_id: str, store: StoreDep, _: Principal) -> dict:
    return job_view(store.get(_job_id(job_id)))


def _finished_file(store, job_id: str, pick) -> FileResponse:
    job = store.get(_job_id(job_id))
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(f"render {job_id} has no images: it is {job.status}", field="id")
    path = pick(job)
    if not path.is_file():
        raise NotFound(f"the output of render {job_id} is missing on disk", field="id")
    return FileResponse(path, media_type="image/png")


@router.get("/{job_id}/image", response_class=Response, responses={200: PNG}, summary="A rendered image")
def render_image(
    job_id: str,
    store: StoreDep,
    _: Principal,
    index: Annotated[int, Query(ge=0, le=16, description="which image, from 0")] = 0,
) -> FileResponse:
    def pick(job):
        if index >= job.images:
            raise NotFound(f"render {job_id} has {job.images} image(s); index {index} is out of range", field="index")
        return image_paths(store.job_dir(job.id), job.images)[index]

    return _finished_file(store, job_id, pick)


@router.get("/{job_id}/edges", response_class=Response, responses={200: PNG}, summary="The edge map used")
def render_edges(job_id: str, store: StoreDep, _: Principal) -> FileResponse:
    return _finished_file(store, job_id, lambda job: edges_path(store.job_dir(job.id)))


def _cache(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, or not at all (the job may be pruned meanwhile)."""
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@router.get(
    "/{job_id}/sketch",
    response_class=Response,
    responses={200: PNG},
    summary="The uploaded sketch, re-encoded as PNG (EXIF orientation applied, RGB)",
)
def render_sketch(job_id: str, settings: SettingsDep, store: StoreDep, _: Principal) -> Response:
    job = store.get(_job_id(job_id))
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
)
def cancel_render(job_id: str, worker: WorkerDep, _: Principal) -> JSONResponse:
    job = worker.cancel(_job_id(job_id))
    body = JobView.model_validate(job_view(job)).model_dump(mode="json")
    return JSONResponse(body, status_code=202 if job.status == JobStatus.RUNNING else 200)


async def existing_job(job_id: str, store: StoreDep) -> Job:
    """The job (a 404 before any event stream starts)."""
    return await anyio.to_thread.run_sync(store.get, _job_id(job_id))


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses=JSON_ERROR_RESPONSES,
    summary="Server-sent events: `progress` and `status` until the job ends",
)
async def render_events(
    job: Annotated[Job, Depends(existing_job)], runtime: RuntimeDep, store: StoreDep, _: Principal
) -> AsyncIterator[ServerSentEvent]:
    """A `status` event on every change of status, a `progress` event on every new step; the
    stream ends when the job does (FastAPI adds a keep-alive comment after 15 s of quiet)."""
    last_status, last_step = None, None
    while True:
        if job.status != last_status:
            last_status = job.status
            yield ServerSentEvent(event="status", data=JobSummary.model_validate(job_summary(job)))
        if job.step != last_step and not job.terminal:
            last_step = job.step
            progress = {"id": job.id, "status": job.status, "step": job.step, "total": job.total}
            yield ServerSentEvent(event="progress", data=progress)
        if job.terminal or runtime.stopping.is_set():
            return
        await asyncio.sleep(SSE_POLL_S)
        try:
            job = await anyio.to_thread.run_sync(store.get, job.id)
        except Exception:  # pruned or the store closed under us: end the stream
            return
