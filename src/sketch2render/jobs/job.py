"""A render job as stored: its status, its owner, its row (the `jobs` table; its schema is the
`jobs` store's migrations, database/migrations/jobs), and the id rule."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import RowMapping

JOB_ID_LENGTH = 32
# Input files of a job beside its sketch (store.py: INPUT_NAME), named by our code only.
REGION_MASK_NAME = "region-{index}.mask"  # the mask of params.regions[index]
EDIT_MASK_NAME = "edit.mask"  # an edit's mask
PARENT_IMAGE_NAME = "parent.png"  # an edit's or upscale's parent image (with its recipe)
PARENT_CONTROL_NAME = "parent.control.png"  # an edit's control image: its parent's
LEGACY_PARENT_CONTROL_NAME = "parent.edges.png"  # its name in edits stored before, still read
OPERATION_NAME = "operation.json"  # an edit's or upscale's own settings (render/inpaint.py, upscale.py)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


def is_job_id(value: str) -> bool:
    """Server-generated ids only (uuid4 hex): nothing else gets near the filesystem."""
    return len(value) == JOB_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class JobInputs:
    """What a job stores beyond its sketch and parameters: its kind, the job it was made from, and
    more input files beside the sketch (region masks; an edit's mask and its parent's image)."""

    kind: str = "render"  # "render" | "edit" | "upscale"
    parent: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # names from our code, never from a request


NO_INPUTS = JobInputs()  # a plain render (never mutated)


@dataclass(frozen=True)
class Job:
    id: str
    seq: int
    status: JobStatus
    params: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    step: int
    total: int
    error_code: str | None
    error_message: str | None
    result: dict[str, Any] | None
    images: int
    idempotency_key: str | None
    request_hash: str | None
    attempts: int
    worker_id: str | None
    cancel_requested: bool
    owner: str | None = None  # the principal's name; None: stored before principals existed
    lane: str = "quality"  # "live": speed=live renders of a live session, claimed first (store.py)
    live_session: str | None = None
    kind: str = "render"  # "render" | "edit" | "upscale" (version 4)
    parent: str | None = None  # the render an edit or upscale was made from (version 4)
    scores_pending: bool = False  # succeeded, images ready, quality scores still coming (version 5)
    lease_until: float | None = None  # a running job's lease: renewed by its worker, else re-queued (version 6)
    lease_owner: str | None = None  # the `JobWorker` holding it (`worker_id` may name a Ray replica)

    def visible_to(self, name: str, admin: bool) -> bool:
        """Admins see every job; anyone else only their own (a job from before owners: admins)."""
        return admin or (self.owner is not None and self.owner == name)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_row(cls, row: RowMapping) -> Job:
        return cls(
            id=row["id"],
            seq=row["seq"],
            status=JobStatus(row["status"]),
            params=json.loads(row["params"]),
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            step=row["step"],
            total=row["total"],
            error_code=row["error_code"],
            error_message=row["error_message"],
            result=json.loads(row["result"]) if row["result"] else None,
            images=row["images"],
            idempotency_key=row["idempotency_key"],
            request_hash=row["request_hash"],
            attempts=row["attempts"],
            worker_id=row["worker_id"],
            cancel_requested=bool(row["cancel_requested"]),
            owner=row["owner"],
            lane=row["lane"],
            live_session=row["live_session"],
            kind=row["kind"],
            parent=row["parent"],
            scores_pending=bool(row["scores_pending"]),
            lease_until=row["lease_until"],
            lease_owner=row["lease_owner"],
        )
