"""The jobs database in tests: the hand-written schema data folders from before migrations have
(tests of old databases build theirs from it), and raw SQL on a store's database (what a test sets
up that no public method does: a lapsed lease, a spent attempt, a start time)."""

from __future__ import annotations

import time

from sqlalchemy import text

from sketch2render.jobs.store import JobStore

# The hand-written schema's last version (`PRAGMA user_version`); the `jobs` store's first
# migration adopts a file at any version up to it and leaves it set to it.
SCHEMA_VERSION = 6
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


def execute(store: JobStore, sql: str, **args: object) -> int:
    """Run one statement on the store's database (named parameters: `:name`), committed; its row count."""
    with store.database.write() as conn:
        return conn.execute(text(sql), args).rowcount


def scalar(store: JobStore, sql: str, **args: object) -> object:
    """The first column of the first row a query returns."""
    with store.database.read() as conn:
        return conn.execute(text(sql), args).scalar()


def lapse(store: JobStore, *job_ids: str) -> None:
    """The jobs' leases ran out (their worker, or its whole process, is gone)."""
    for job_id in job_ids:
        execute(store, "UPDATE jobs SET lease_until = :t WHERE id = :id", t=time.time() - 1, id=job_id)
