"""Edit and upscale jobs: their inputs read back from the job folder (jobs/job.py names the files)
and run by the render service (render/inpaint.py, render/upscale.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from .. import errors
from ..render.inpaint import EditInputs
from ..render.ports import RenderControls
from ..render.result import RenderResult
from ..render.service import RenderService
from ..render.upscale import UpscaleInputs
from ..schemas import RenderParams
from .job import (
    EDIT_MASK_NAME,
    LEGACY_PARENT_CONTROL_NAME,
    OPERATION_NAME,
    PARENT_CONTROL_NAME,
    PARENT_IMAGE_NAME,
    Job,
)


def job_file(job_dir: Path, name: str) -> bytes:
    """One more input file of a job (region masks, an edit's parent), or NotFound."""
    try:
        return (job_dir / name).read_bytes()
    except FileNotFoundError:
        raise errors.NotFound(f"the input {name} of this job is missing on disk") from None


def parent_control(job_dir: Path) -> bytes:
    """An edit's copy of its parent's control image (stored as parent.edges.png by older versions)."""
    if not (job_dir / PARENT_CONTROL_NAME).is_file() and (job_dir / LEGACY_PARENT_CONTROL_NAME).is_file():
        return job_file(job_dir, LEGACY_PARENT_CONTROL_NAME)
    return job_file(job_dir, PARENT_CONTROL_NAME)


def derived_inputs(job: Job, job_dir: Path) -> EditInputs | UpscaleInputs:
    """What an edit or an upscale job runs on, read back from its folder (what a Ray replica is sent too)."""
    operation = json.loads(job_file(job_dir, OPERATION_NAME))
    parent = job_file(job_dir, PARENT_IMAGE_NAME)
    if job.kind == "edit":
        return EditInputs(
            parent_png=parent,
            control=Image.open(io.BytesIO(parent_control(job_dir))).convert("RGB"),
            mask=job_file(job_dir, EDIT_MASK_NAME),
            params=RenderParams.model_validate(job.params),
            feather=int(operation["feather"]),
            parent_id=job.parent,
            principal=job.owner or "",
        )
    if job.kind == "upscale":
        return UpscaleInputs(
            parent_png=parent,
            factor=int(operation["factor"]),
            detail_strength=float(operation["detail_strength"]),
            tile=int(operation["tile"]) if operation.get("tile") else None,  # None: the family's native size
            overlap=int(operation["tile"]) // 8 if operation.get("tile") else None,
            parent_id=job.parent,
        )
    raise errors.InvalidParameter(f"unknown job kind {job.kind!r}")


def run_derived(service: RenderService, job: Job, job_dir: Path, controls: RenderControls) -> RenderResult:
    """Run an edit or an upscale job (`controls`: its progress and cancel)."""
    inputs = derived_inputs(job, job_dir)
    if isinstance(inputs, EditInputs):
        return service.edit(inputs, controls=controls)
    return service.upscale(inputs, controls=controls)
