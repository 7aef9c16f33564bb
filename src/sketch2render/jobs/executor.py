"""How a job runs: the `Executor` interface, and `LocalExecutor`, which renders in this process with
the loaded `RenderService` and writes the outputs into the job folder (render/outputs.py).
The other implementation is `scale.ray_backend.RayExecutor` (Ray Serve replicas)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .. import errors
from ..render.outputs import save_render
from ..render.ports import PreviewFn, ProgressFn
from ..render.service import RenderService
from ..schemas import RenderParams
from .derived import job_file, run_derived
from .job import REGION_MASK_NAME
from .store import INPUT_NAME, Job


@dataclass
class Execution:
    recipe: dict[str, Any]  # RenderRecipe as JSON-ready dict
    images: int  # how many images were written


class Executor(Protocol):
    """Runs one job. Raises `errors.S2RError` (the job fails with its code), `errors.Cancelled`."""

    def ready(self) -> bool: ...

    def execute(
        self,
        job: Job,
        job_dir: Path,
        *,
        progress: ProgressFn,
        cancel: threading.Event,
        preview: PreviewFn | None = None,
    ) -> Execution: ...


def job_input(job: Job, job_dir: Path) -> tuple[bytes, RenderParams]:
    """The uploaded sketch bytes and the validated parameters of a job."""
    try:
        sketch = (job_dir / INPUT_NAME).read_bytes()
    except FileNotFoundError:
        raise errors.NotFound("the uploaded sketch of this job is missing on disk") from None
    return sketch, RenderParams.model_validate(job.params)


class LocalExecutor:
    """In-process rendering with the loaded `RenderService` (None while models are loading)."""

    def __init__(self, service: Callable[[], RenderService | None]) -> None:
        self._service = service

    def ready(self) -> bool:
        return self._service() is not None

    def execute(
        self,
        job: Job,
        job_dir: Path,
        *,
        progress: ProgressFn,
        cancel: threading.Event,
        preview: PreviewFn | None = None,
    ) -> Execution:
        service = self._service()
        if service is None:
            raise errors.ModelsUnavailable("the models are not loaded yet")
        sketch, params = job_input(job, job_dir)
        if job.kind != "render":  # an edit or an upscale of a finished render (derived.py)
            result = run_derived(service, job, job_dir, progress=progress, cancel=cancel)
        else:
            masks = [job_file(job_dir, REGION_MASK_NAME.format(index=i)) for i in range(len(params.regions))]
            result = service.render(sketch, params, progress=progress, cancel=cancel, preview=preview, masks=masks)
        saved = save_render(result, job_dir)
        return Execution(recipe=result.recipe.model_dump(mode="json"), images=len(saved.images))
