"""How a job runs: the `Executor` interface, and `LocalExecutor`, which renders in this process with
the loaded `RenderService` and writes the outputs into the job folder (render/outputs.py).
The other implementation is `scale.ray_backend.RayExecutor` (Ray Serve replicas)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from .. import errors
from ..render.outputs import save_render, write_recipe
from ..render.ports import PreviewFn, ProgressFn, RenderControls
from ..render.result import RenderResult
from ..render.service import RenderService
from ..schemas import RenderParams
from .decoded_sketches import DecodedSketches
from .deferred_scores import PendingScores
from .derived import job_file, run_derived
from .job import REGION_MASK_NAME
from .store import INPUT_NAME, Job


@dataclass
class Execution:
    recipe: dict[str, Any]  # RenderRecipe as JSON-ready dict
    images: int  # how many images were written
    scores: PendingScores | None = None  # quality scores still to compute (after the job is reported)


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

    def __init__(
        self,
        service: Callable[[], RenderService | None],
        sketches: DecodedSketches | None = None,
        *,
        ready_when: Callable[[], bool] | None = None,  # the servers a render needs answer (Chroma)
    ) -> None:
        self._service = service
        self.sketches = sketches if sketches is not None else DecodedSketches()  # what the POST decoded
        self._ready_when = ready_when

    def ready(self) -> bool:
        """The models are loaded and the servers a render needs answer: the worker claims a job
        only then, so queued jobs wait out a server that went away instead of failing."""
        return self._service() is not None and (self._ready_when is None or self._ready_when())

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
        if job.kind != "render":  # an edit or an upscale of a finished render (derived.py)
            result = run_derived(service, job, job_dir, RenderControls(progress, cancel))
        else:
            decoded = self.sketches.take(job.request_hash) if job.request_hash else None
            control = None
            if decoded is not None:  # validated, resized and its lines found by the POST: not again
                sketch: bytes | Image.Image = decoded.image
                control = decoded.control
                params = RenderParams.model_validate(job.params)
            else:
                sketch, params = job_input(job, job_dir)
            masks = [job_file(job_dir, REGION_MASK_NAME.format(index=i)) for i in range(len(params.regions))]
            controls = RenderControls(progress, cancel, preview, defer_scores=True)  # images first, scores after
            result = service.render(
                sketch, params, controls=controls, principal=job.owner or "", masks=masks, control=control
            )
        if cancel.is_set():  # cancelled, or past its time limit and left behind: its late result is not kept
            raise errors.Cancelled("the render was cancelled")
        saved = save_render(result, job_dir)
        recipe = result.recipe.model_dump(mode="json")
        if result.pending_scores is None:  # scored already
            return Execution(recipe=recipe, images=len(saved.images))
        return Execution(recipe, len(saved.images), PendingScores(partial(_scored, result, job_dir)))


def _scored(result: RenderResult, job_dir: Path) -> dict[str, Any]:
    """The deferred quality scores of a saved render: into the recipe and its JSON sidecar."""
    assert result.pending_scores is not None
    t0 = time.perf_counter()
    scores = result.pending_scores()
    timings = result.recipe.timings.model_copy(update={"scores": time.perf_counter() - t0})
    recipe = result.recipe.model_copy(update={"scores": scores, "timings": timings}).model_dump(mode="json")
    write_recipe(recipe, job_dir)
    return recipe
