"""Response bodies of the HTTP API (what OpenAPI documents and schemathesis checks)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..jobs import Job, JobStatus
from ..principals import Role
from ..schemas import RenderParams, RenderRecipe, StyleHit, StyleRecord
from .runtime import SMOKE_TEST_WARNING


class Progress(BaseModel):
    step: int
    total: int


class JobError(BaseModel):
    code: str
    message: str


class JobUrls(BaseModel):
    self: str
    events: str
    images: list[str]
    control: str | None  # the control image, once the render succeeded
    edges: str | None = Field(deprecated="the old name of `control`, kept for existing clients")
    sketch: str  # the uploaded sketch as PNG (from submission on)


class JobAccepted(BaseModel):
    id: str
    status: JobStatus
    url: str


class JobSummary(BaseModel):
    id: str
    status: JobStatus
    owner: str | None  # the principal that submitted it (None: stored before principals)
    prompt: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress: Progress
    error: JobError | None
    attempts: int
    cancel_requested: bool
    urls: JobUrls
    kind: str = "render"  # render | edit | upscale
    parent: str | None = None  # the render an edit or upscale was made from (History's chains)


class JobView(JobSummary):
    params: RenderParams
    result: RenderRecipe | None
    # Succeeded, images ready, quality scores (result.scores) still being computed: they follow in
    # a moment (the `scores` event of the event stream; GET again).
    scores_pending: bool = False
    warning: str | None
    worker: str | None = None  # who ran it: this process, or a Ray Serve replica id


class JobList(BaseModel):
    items: list[JobSummary]
    total: int
    offset: int
    limit: int


class StyleList(BaseModel):
    items: list[StyleRecord]
    total: int
    offset: int
    limit: int


class StyleSearch(BaseModel):
    query: str
    hits: list[StyleHit]


class Live(BaseModel):
    status: str


class QueueState(BaseModel):
    depth: int
    max: int
    full: bool


class FamilySpeed(BaseModel):
    steps: int
    guidance_scale: float
    available: bool = Field(description="its few-step LoRA (and TAESD for live) are here")


class FamilyInfo(BaseModel):
    """A model family this server serves (`family` on a render picks it)."""

    family: str
    title: str
    profile: str
    default: bool = Field(description="renders that name no family use this one")
    loaded: bool = Field(description="its models are in memory (the others load on their first render)")
    available: bool = Field(description="its weights are here; when not, `problem` says why")
    problem: str | None = None
    smoke_test: bool | None = None
    native_size: int
    size_multiple: int
    control_types: list[str]
    speeds: dict[str, FamilySpeed]
    style_adapter: str
    unsupported: dict[str, str] = Field(default_factory=dict, description="parameters it refuses, and why")


class FamilyList(BaseModel):
    default: str | None
    families: list[FamilyInfo]


class Ready(BaseModel):
    ready: bool
    reasons: list[str]
    faults: list[str] = Field(
        default_factory=list,
        description="The faults behind some of the reasons, by their s2r_faults_total kind "
        "(claim_failed, chroma_unreachable, ray_unreachable, disk_full, read_only)",
    )
    profile: str | None
    smoke_test: bool | None
    warning: str | None
    device: str | None
    models_loaded: bool
    family: str | None = Field(default=None, description="the default family")
    families: list[FamilyInfo] = Field(default_factory=list, description="every family served")
    worker_alive: bool
    queue: QueueState


class Me(BaseModel):
    name: str
    role: Role
    can_add_styles: bool
    can_remove_styles: bool
    can_see_all_jobs: bool
    queued: int  # this principal's jobs waiting now
    queue_max: int  # the most it may have waiting
    rate_limit: float  # requests per second (0: no limit)
    rate_burst: int


def job_urls(job: Job) -> JobUrls:
    base = f"/v1/renders/{job.id}"
    done = job.status == JobStatus.SUCCEEDED
    n = job.images if done else 0
    return JobUrls(
        self=base,
        events=f"{base}/events",
        images=[f"{base}/image" if n == 1 else f"{base}/image?index={i}" for i in range(n)],
        control=f"{base}/control" if done else None,
        edges=f"{base}/edges" if done else None,
        sketch=f"{base}/sketch",
    )


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "owner": job.owner,
        "prompt": job.params.get("prompt", ""),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": {"step": job.step, "total": job.total},
        "error": {"code": job.error_code, "message": job.error_message or ""} if job.error_code else None,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "urls": job_urls(job),
        "kind": job.kind,
        "parent": job.parent,
    }


def job_view(job: Job) -> dict[str, Any]:
    smoke = bool(job.result and job.result.get("smoke_test"))
    return {
        **job_summary(job),
        "params": job.params,
        "result": job.result,
        "scores_pending": job.scores_pending,
        "warning": SMOKE_TEST_WARNING if smoke else None,
        "worker": job.worker_id,
    }


def job_scores(job: Job) -> list[dict[str, Any]]:
    """The quality scores of a job's result, one per image, as JSON (recipes stored before call them
    `metrics`; the recipe model reads both)."""
    if not job.result:
        return []
    return [scores.model_dump(mode="json") for scores in RenderRecipe.model_validate(job.result).scores]
