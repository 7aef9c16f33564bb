"""Edits and upscales of a finished render, over HTTP: each makes a new job linked to its parent.

- `POST /v1/renders/{id}/edit` (multipart): a `mask` file (the render's size; white, or paint on
  transparency) and a new `prompt`, optional styles (`style_ids`, `style_mode`, `style_strength`),
  `seed`, `steps`, `feather` (the band in px past the mask in which the edit blends into the parent;
  every pixel past it is the parent's). ControlNet inpainting with the parent's control image.
- `POST /v1/renders/{id}/upscale` (form): `factor` 2 or 4 and `detail_strength` (0-1): tiled img2img
  with the tile ControlNet and the render's own style.

Everything is checked before the job is stored (422s name the field; a parent that has not
succeeded is a 409; another principal's render is a 404 through `OwnedJob`). The new job keeps its
parent's sketch as its input and stores the parent's image (and control image) beside it, so it
runs even if the parent is pruned meanwhile. Storing is refused as a render's is: 507 when the disk
would fall below `S2R_MIN_FREE_MB` or is full, 503 when the data folder is read-only.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ...errors import Conflict, InvalidParameter, NotFound, ShuttingDown
from ...jobs.job import EDIT_MASK_NAME, OPERATION_NAME, PARENT_CONTROL_NAME, PARENT_IMAGE_NAME, JobInputs
from ...jobs.store import INPUT_NAME, Job, JobStatus, JobStore
from ...render.inpaint import FEATHER_PX, MAX_FEATHER_PX, edit_params
from ...render.outputs import existing_control_path, image_paths
from ...render.upscale import DETAIL_STRENGTH, FACTORS, UpscaleInputs
from ...schemas import RenderParams, StyleMode
from ...sketch.imaging import decode_upload
from ...sketch.masks import decode_mask
from ...storage import require_room, storing
from ..deps import Caller, OwnedJob, RuntimeDep, SettingsDep, StoreDep, WorkerDep, check_style_ids
from ..forms import known_fields, split_list
from ..handlers import ERROR_RESPONSES, from_validation_error
from ..views import JobAccepted

router = APIRouter(prefix="/v1/renders", tags=["renders"], responses=ERROR_RESPONSES)
EDIT_FIELDS = frozenset(
    {
        "mask",
        "prompt",
        "negative_prompt",
        "style_ids",
        "style_mode",
        "style_strength",
        "seed",
        "steps",
        "feather",
        "image",
    }
)
UPSCALE_FIELDS = frozenset({"factor", "detail_strength", "image"})


def _parent_files(job: Job, store: JobStore, index: int) -> tuple[bytes, bytes, bytes]:
    """The parent's sketch (input), image `index` (PNG with its recipe) and control image."""
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(f"render {job.id} is {job.status}; only a finished render can be edited or upscaled", field="id")
    if not 0 <= index < job.images:
        message = f"image: render {job.id} has {job.images} image(s); {index} is out of range"
        raise InvalidParameter(message, field="image")
    directory = store.job_dir(job.id)
    try:
        return (
            (directory / INPUT_NAME).read_bytes(),
            image_paths(directory, job.images)[index].read_bytes(),
            existing_control_path(directory).read_bytes(),
        )
    except FileNotFoundError:
        raise NotFound(f"the files of render {job.id} are missing on disk", field="id") from None


def _accept(store: JobStore, worker, runtime, caller, sketch: bytes, params: dict, inputs: JobInputs) -> JSONResponse:
    if runtime.stopping.is_set():
        raise ShuttingDown("the server is shutting down; submit again in a moment")
    runtime.require_dependencies()  # a Chroma server or Ray cluster away: a 503 naming it, at once
    # the files and the reserve must fit (507); a full or read-only disk while storing: 507 or 503
    require_room(store.renders_dir, runtime.settings.min_free_mb, len(sketch) + sum(map(len, inputs.files.values())))
    with storing(store.renders_dir):
        job, _ = store.submit(sketch, params, owner=caller.name, inputs=inputs)
    runtime.metrics.principal_submitted.labels(caller.name).inc()
    worker.notify()
    body = JobAccepted(id=job.id, status=job.status, url=f"/v1/renders/{job.id}").model_dump(mode="json")
    return JSONResponse(body, status_code=202, headers={"Location": body["url"]})


@router.post(
    "/{job_id}/edit",
    status_code=202,
    response_model=JobAccepted,
    summary="Repaint the masked area of a finished render with a new prompt: a new job linked to it",
    operation_id="renders-edit",
    dependencies=[Depends(known_fields(EDIT_FIELDS))],
)
def edit_render(
    job: OwnedJob,
    runtime: RuntimeDep,
    settings: SettingsDep,
    store: StoreDep,
    worker: WorkerDep,
    caller: Caller,
    mask: Annotated[UploadFile, File(description="the area to repaint: the render's size, white on black")],
    prompt: Annotated[str, Form(min_length=1, max_length=1000, description="what the masked area becomes")],
    negative_prompt: Annotated[str | None, Form(max_length=1000)] = None,
    style_ids: Annotated[list[str] | None, Form(description="use these styles (default: retrieved)")] = None,
    style_mode: Annotated[StyleMode | None, Form()] = None,
    style_strength: Annotated[float | None, Form(ge=0.0, le=2.0)] = None,
    seed: Annotated[int | None, Form(ge=0, le=2**32 - 1, description="default: the parent's")] = None,
    steps: Annotated[int | None, Form(ge=1, le=150)] = None,
    feather: Annotated[int, Form(ge=0, le=MAX_FEATHER_PX, description="blend band past the mask, px")] = FEATHER_PX,
    image: Annotated[int, Form(ge=0, le=16, description="which image of the render, from 0")] = 0,
) -> JSONResponse:
    sketch, parent_png, control = _parent_files(job, store, image)
    size = decode_upload(parent_png, settings.limits).size
    mask_data = mask.file.read(settings.max_upload_bytes + 1)
    decode_mask(mask_data, settings.limits, size=size, field="mask")
    changes = {
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "style_ids": split_list(style_ids) or None,
        "style_mode": style_mode,
        "style_strength": style_strength,
        "seed": seed,
        "steps": steps,
    }
    try:
        params = edit_params(RenderParams.model_validate(job.params), changes)
    except ValidationError as exc:
        raise from_validation_error(exc, tuple(changes)) from None
    params, _ = runtime.choose_family(params)  # the parent's family must still be served here
    check_style_ids(runtime, params.style_ids)
    files = {
        EDIT_MASK_NAME: mask_data,
        PARENT_IMAGE_NAME: parent_png,
        PARENT_CONTROL_NAME: control,
        OPERATION_NAME: json.dumps({"feather": feather, "image": image}).encode(),
    }
    inputs = JobInputs(kind="edit", parent=job.id, files=files)
    return _accept(store, worker, runtime, caller, sketch, params.model_dump(mode="json"), inputs)


@router.post(
    "/{job_id}/upscale",
    status_code=202,
    response_model=JobAccepted,
    summary="Enlarge a finished render by 2 or 4 with tiled detail (tile ControlNet): a new job linked to it",
    operation_id="renders-upscale",
    dependencies=[Depends(known_fields(UPSCALE_FIELDS))],
)
def upscale_render(
    job: OwnedJob,
    runtime: RuntimeDep,
    settings: SettingsDep,
    store: StoreDep,
    worker: WorkerDep,
    caller: Caller,
    factor: Annotated[int, Form(description="2 or 4", json_schema_extra={"enum": list(FACTORS)})] = 2,
    detail_strength: Annotated[
        float, Form(ge=0.0, le=1.0, description="0-1: how much each tile is repainted (img2img strength)")
    ] = DETAIL_STRENGTH,
    image: Annotated[int, Form(ge=0, le=16, description="which image of the render, from 0")] = 0,
) -> JSONResponse:
    inputs = UpscaleInputs(b"", factor=factor, detail_strength=detail_strength, tile=settings.upscale_tile)
    inputs.check()  # 422 naming factor or detail_strength
    sketch, parent_png, _ = _parent_files(job, store, image)
    parent = RenderParams.model_validate(job.params)
    parent, models = runtime.choose_family(parent.for_family(parent.family or "sd15"))  # before families: SD 1.5
    if models is not None and models.spec.geometry == "controlnet" and not models.has("tile"):
        models.extra("tile", "tile ControlNet (for upscale)", "factor")  # 503 saying how to get it
    operation = {"factor": factor, "detail_strength": detail_strength, "tile": inputs.tile, "image": image}
    files = {PARENT_IMAGE_NAME: parent_png, OPERATION_NAME: json.dumps(operation).encode()}
    params = parent.model_dump(mode="json")
    inputs = JobInputs(kind="upscale", parent=job.id, files=files)
    return _accept(store, worker, runtime, caller, sketch, params, inputs)
