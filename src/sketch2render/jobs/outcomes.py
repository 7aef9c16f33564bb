"""How a render's run ends as its job's recorded end: a value or an exception becomes a status and
an error (code, message) the store records; a run past its time limit fails with `render_timeout`."""

from __future__ import annotations

import errno
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from .. import errors
from ..render.outputs import image_paths
from .executor import Execution
from .job import JobStatus

log = logging.getLogger("sketch2render.jobs.worker")

OUTPUTS_LOST = "its images were lost while the end of the render could not be recorded"


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as the store records it."""

    status: JobStatus
    error: tuple[str, str] | None = None
    execution: Execution | None = None


def timeout_error(limit: float) -> tuple[str, str]:
    message = f"the render ran past its time limit of {limit:g}s (S2R_RENDER_TIMEOUT) and was stopped"
    return errors.RenderTimeout.code, message


def outcome_of(job_id: str, run: Future[Execution]) -> Outcome:
    """What an ended run's value or exception means for its job."""
    try:
        return Outcome(JobStatus.SUCCEEDED, execution=run.result())
    except errors.Cancelled:
        return Outcome(JobStatus.CANCELLED)
    except errors.S2RError as exc:
        return Outcome(JobStatus.FAILED, (exc.code, exc.message))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            return Outcome(JobStatus.FAILED, (errors.DiskFull.code, "no space left on the device to save the render"))
        return unexpected(job_id, exc)
    except Exception as exc:  # a bug or a crash in the renderer: the job fails, the worker lives
        return unexpected(job_id, exc)


def unexpected(job_id: str, exc: Exception) -> Outcome:
    log.error("render %s failed unexpectedly", job_id, exc_info=exc)
    message = f"rendering failed unexpectedly ({type(exc).__name__}); see the server log"
    return Outcome(JobStatus.FAILED, ("internal_error", message))


def outputs_present(job_dir: Path, execution: Execution | None) -> bool:
    return execution is not None and all(path.exists() for path in image_paths(job_dir, execution.images))
