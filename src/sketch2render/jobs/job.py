"""A render job as stored: its status, its owner, its row in SQLite (the schema and its
migrations), and the id rule."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
    def from_row(cls, row: sqlite3.Row) -> Job:
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


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,   -- FIFO order
    id               TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params           TEXT NOT NULL,                       -- RenderParams JSON
    created_at       REAL NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    step             INTEGER NOT NULL DEFAULT 0,
    total            INTEGER NOT NULL DEFAULT 0,
    error_code       TEXT,
    error_message    TEXT,
    result           TEXT,                                -- RenderRecipe JSON
    images           INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT,
    request_hash     TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner            TEXT,                                -- principal name (version 2)
    lane             TEXT NOT NULL DEFAULT 'quality',     -- 'quality' | 'live' (version 3)
    live_session     TEXT,                                -- the live session of a live job (version 3)
    kind             TEXT NOT NULL DEFAULT 'render',      -- 'render' | 'edit' | 'upscale' (version 4)
    parent           TEXT,                                -- the job an edit or upscale was made from (version 4)
    scores_pending   INTEGER NOT NULL DEFAULT 0,          -- succeeded, quality scores still coming (version 5)
    lease_until      REAL,                                -- a running job's lease ends then (version 6)
    lease_owner      TEXT                                 -- the worker holding the lease (version 6)
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""
SCHEMA_VERSION = 6
# Steps from a database of version N-1 to N, run in order by `JobStore` when `user_version` is older.
# Version 2: jobs record their owner. Rows from before keep NULL: only admins see them, as every
# key was an admin then.
# Version 3: the live lane (a lane and the live session of each job; older rows are quality jobs).
# Version 4: edits and upscales (a kind, and the parent job they were made from; older rows are renders).
# Version 5: "scores pending" is a column (it was a key of the result JSON, which loses it).
# Version 6: a running job's lease (its worker renews it; a lapsed one is re-queued without a restart).
# Each step: (column it adds, statement); the statements of a column that exists already do not run.
MIGRATIONS: dict[int, list[tuple[str, str]]] = {
    2: [("owner", "ALTER TABLE jobs ADD COLUMN owner TEXT")],
    3: [
        ("lane", "ALTER TABLE jobs ADD COLUMN lane TEXT NOT NULL DEFAULT 'quality'"),
        ("live_session", "ALTER TABLE jobs ADD COLUMN live_session TEXT"),
    ],
    4: [
        ("kind", "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'render'"),
        ("parent", "ALTER TABLE jobs ADD COLUMN parent TEXT"),
    ],
    5: [
        ("scores_pending", "ALTER TABLE jobs ADD COLUMN scores_pending INTEGER NOT NULL DEFAULT 0"),
        (
            "scores_pending",
            "UPDATE jobs SET scores_pending = 1, result = json_remove(result, '$.scores_pending')"
            " WHERE status = 'succeeded' AND result LIKE '%\"scores_pending\": true%'",
        ),
    ],
    6: [
        ("lease_until", "ALTER TABLE jobs ADD COLUMN lease_until REAL"),
        ("lease_owner", "ALTER TABLE jobs ADD COLUMN lease_owner TEXT"),
    ],
}
INDEXES = """
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner_started ON jobs (owner, started_at);
CREATE INDEX IF NOT EXISTS jobs_lane ON jobs (lane, status, seq);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs (parent);
"""


def migrate(conn: sqlite3.Connection) -> None:
    """Create the schema, or bring an older database up to `SCHEMA_VERSION` (one transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone()
        version = conn.execute("PRAGMA user_version").fetchone()[0] if exists else SCHEMA_VERSION
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
        for target in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
            for column, statement in MIGRATIONS[target]:
                if column not in columns:
                    conn.execute(statement)
        for statement in INDEXES.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
