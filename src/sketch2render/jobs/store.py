"""The job store: render jobs in SQLite (WAL) under `S2R_HOME`, their files under `renders/<id>/`.

A job's input is written to disk *before* its row is committed, and the row is committed before
the API answers 202, so an accepted job survives a crash at any point. Every state change is a
conditional UPDATE (`... WHERE status = 'running'`), which makes the worker, cancellation and
shutdown race-free without holding a lock across a render. One process owns the database (as
one owns the Chroma store); the worker id column names who ran a job (this process or a Ray replica).

`attempts` counts how often a job was started. On start-up, jobs left `running` by a crash go
back to the queue once; a job that was already retried is failed with a reason instead. While the
process lives, a running job holds a lease its worker renews (leases.py); a lapsed one is treated
the same way, and only the lease's holder may record the job's end.

Several principals share one queue fairly: each job records its `owner`; one owner may have at
most `owner_max` jobs waiting (429, `PrincipalQueueFull`), and the worker takes the next job
round-robin over owners (the owner who started a job longest ago goes first; FIFO within an owner),
so one client's long batch never starves another's single render.
Left out: retention by age (history is capped by count, `max_history`), multi-process claims.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import Conflict, IdempotencyConflict, NotFound, PrincipalQueueFull, QueueFull
from ..files import atomic_write
from . import leases
from .job import NO_INPUTS, TERMINAL, Job, JobInputs, JobStatus, is_job_id, migrate
from .lanes import check_live_room, next_live, supersede
from .leases import MAX_ATTEMPTS, RESTART_REASON

__all__ = ["INPUT_NAME", "MAX_ATTEMPTS", "RESTART_REASON", "Job", "JobStatus", "JobStore"]

INPUT_NAME = "sketch.input"  # the uploaded bytes, exactly as received (already checked to decode)
DEFAULT_LEASE_S = 60.0  # how long a claim holds a job unless renewed (S2R_JOB_LEASE_S)


class JobStore:
    """Jobs and their files. Thread-safe: one connection, every statement under one lock."""

    def __init__(
        self,
        db_path: Path,
        renders_dir: Path,
        *,
        queue_max: int,
        max_history: int,
        owner_max: int | None = None,
        live_sessions_max: int = 8,
    ) -> None:
        self.db_path = Path(db_path)
        self.renders_dir = Path(renders_dir)
        self.queue_max = queue_max
        self.owner_max = min(owner_max or queue_max, queue_max)
        self.live_sessions_max = live_sessions_max
        self._live_streak = 0  # live jobs claimed in a row
        self.max_history = max_history
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.renders_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.db_path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        migrate(self.conn)

    # --- plumbing ------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError("the job store is closed")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    def _one(self, sql: str, args: tuple = ()) -> sqlite3.Row | None:
        with self._lock:
            return self.conn.execute(sql, args).fetchone()

    def _update(self, sql: str, args: tuple) -> int:
        with self._lock:
            return self.conn.execute(sql, args).rowcount

    def job_dir(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise NotFound(f"no render with id {job_id!r}", field="id")
        return self.renders_dir / job_id

    # --- submitting ----------------------------------------------------------------------
    def submit(
        self,
        sketch: bytes,
        params: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        owner: str | None = None,
        live_session: str | None = None,
        inputs: JobInputs = NO_INPUTS,  # an edit's or upscale's parent, region masks (job.py)
    ) -> tuple[Job, bool]:
        """Store a job (input file first, then the row); returns (job, created). An existing job
        with the same idempotency key and hash is returned as is; a different hash is a 422.
        A full queue, or an owner with `owner_max` jobs waiting, is a 429. With a `live_session` the
        job goes to the live lane (lanes.py)."""
        # 1. Cheap checks before touching the disk (repeated inside the transaction).
        if idempotency_key and (existing := self._by_key(idempotency_key, request_hash)):
            return existing, False
        self._check_room(owner, live_session)
        # 2. The input, on disk before the row exists.
        job_id = uuid.uuid4().hex
        directory = self.job_dir(job_id)
        directory.mkdir(parents=True)
        for name, data in {INPUT_NAME: sketch, **inputs.files}.items():
            atomic_write(directory / name, data, durable=False)  # the row, not the file, is the commit point
        # 3. The row, in one transaction with the authoritative checks.
        try:
            with self._lock:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    if idempotency_key and (existing := self._by_key(idempotency_key, request_hash)):
                        self.conn.execute("ROLLBACK")
                        shutil.rmtree(directory, ignore_errors=True)
                        return existing, False
                    self._check_room(owner, live_session)
                    if live_session is not None:
                        supersede(self.conn, owner, live_session)
                    self.conn.execute(
                        "INSERT INTO jobs (id, status, params, created_at, total, idempotency_key, request_hash,"
                        " owner, lane, live_session, kind, parent) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            job_id,
                            json.dumps(params, sort_keys=True),
                            time.time(),
                            int(params.get("steps", 0)),
                            idempotency_key,
                            request_hash,
                            owner,
                            "live" if live_session is not None else "quality",
                            live_session,
                            *(inputs.kind, inputs.parent),
                        ),
                    )
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return self.get(job_id), True

    def _by_key(self, key: str, request_hash: str | None) -> Job | None:
        row = self._one("SELECT * FROM jobs WHERE idempotency_key = ?", (key,))
        if row is None:
            return None
        if row["request_hash"] != request_hash:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request; use a new key",
                field="Idempotency-Key",
            )
        return Job.from_row(row)

    def _check_room(self, owner: str | None, live_session: str | None = None) -> None:
        if live_session is not None:  # the live lane: bounded by sessions (each has one job waiting at most)
            with self._lock:
                check_live_room(self.conn, owner, live_session, self.live_sessions_max)
            return
        depth = self.depth()
        if depth >= self.queue_max:
            raise QueueFull(f"the render queue is full ({depth} jobs waiting); retry later", self.retry_after())
        if owner is None:
            return
        mine = self.depth(owner)
        if mine >= self.owner_max:
            # A slot of theirs frees when one of their jobs starts: about one render per waiting owner.
            waiting = self._one("SELECT count(DISTINCT owner) FROM jobs WHERE status = 'queued'")[0]
            raise PrincipalQueueFull(
                f"you have {mine} renders waiting, the most one key may have ({self.owner_max}); "
                "retry when one has started",
                min(600, self.retry_after() * max(1, waiting)),
            )

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free: the mean duration of recent renders."""
        row = self._one(
            "SELECT avg(finished_at - started_at) AS mean FROM (SELECT finished_at, started_at FROM jobs"
            " WHERE status = 'succeeded' AND started_at IS NOT NULL ORDER BY seq DESC LIMIT 20)"
        )
        mean = row["mean"] if row and row["mean"] is not None else 5.0
        return max(1, min(600, math.ceil(mean)))

    # --- reading -------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        row = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,)) if is_job_id(job_id) else None
        if row is None:
            raise NotFound(f"no render with id {job_id!r}", field="id")
        return Job.from_row(row)

    def list(
        self,
        offset: int = 0,
        limit: int = 50,
        status: JobStatus | None = None,
        *,
        owner: str | None = None,
        unowned: bool = False,
    ) -> tuple[list[Job], int]:
        """A page of jobs, newest first, and the total count (for the filter). With `owner`, only
        that owner's jobs (and, with `unowned`, the jobs stored before owners existed)."""
        clauses, args = [], []
        if status:
            clauses.append("status = ?")
            args.append(str(status))
        if owner is not None:
            clauses.append("(owner = ? OR owner IS NULL)" if unowned else "owner = ?")
            args.append(owner)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._lock:
            rows = self.conn.execute(
                f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ? OFFSET ?", (*args, limit, offset)
            ).fetchall()
            total = self.conn.execute(f"SELECT count(*) FROM jobs {where}", args).fetchone()[0]
        return [Job.from_row(r) for r in rows], total

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
        found = {status: n for status, n in rows}
        return {str(s): found.get(str(s), 0) for s in JobStatus}

    def depth(self, owner: str | None = None) -> int:
        """Jobs waiting to run (the running one is not counted), of everyone or of one owner."""
        if owner is None:
            return self._one("SELECT count(*) FROM jobs WHERE status = 'queued'")[0]
        return self._one("SELECT count(*) FROM jobs WHERE status = 'queued' AND owner = ?", (owner,))[0]

    def queued_by_owner(self) -> dict[str, int]:
        """Waiting jobs per owner (`""` for jobs from before owners), for the metrics."""
        with self._lock:
            rows = self.conn.execute("SELECT owner, count(*) FROM jobs WHERE status = 'queued' GROUP BY owner")
            return {owner or "": n for owner, n in rows.fetchall()}

    # --- the worker's transitions ----------------------------------------------------------
    def claim_next(self, worker_id: str, lease_s: float = DEFAULT_LEASE_S) -> Job | None:
        """The next job, now `running`, run by `worker_id` and leased to it for `lease_s` seconds
        (None when none waits). The live lane
        first (live renders never wait behind quality ones), but at most `LIVE_STREAK` live jobs in a
        row while a quality job waits, so a stream of live renders never starves the quality lane.
        Within the quality lane: the oldest queued job of the owner whose last start is oldest (never
        started first), so owners take turns; one owner's jobs keep their order."""
        with self._lock:
            row = next_live(self.conn, self._live_streak)
            self._live_streak = self._live_streak + 1 if row is not None else 0
            row = row or self._one(
                "SELECT j.id FROM jobs j WHERE j.status = 'queued' AND j.seq = (SELECT min(q.seq) FROM jobs q"
                " WHERE q.status = 'queued' AND q.owner IS j.owner) ORDER BY (SELECT max(r.started_at) FROM jobs r"
                " WHERE r.owner IS j.owner) NULLS FIRST, j.seq LIMIT 1"
            )
            if row is None:
                return None
            return self.get(row["id"]) if leases.claim(self.conn, row["id"], worker_id, lease_s) else None

    def renew_lease(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend a running job's lease; False when `owner` no longer holds it (leases.py)."""
        with self._lock:
            return leases.renew(self.conn, job_id, owner, lease_s)

    def expire_leases(self) -> list[str]:
        """Re-queue (or fail, attempts used) the running jobs whose lease lapsed; their ids."""
        with self._lock:
            return leases.expire(self.conn)

    def set_progress(self, job_id: str, step: int, total: int) -> bool:
        """Record progress; False when the job is no longer running (cancelled, re-queued)."""
        return bool(
            self._update(
                "UPDATE jobs SET step = ?, total = ? WHERE id = ? AND status = 'running'",
                (step, total, job_id),
            )
        )

    # --- scale-out: the Ray backend records which replica runs a job -------------------------
    def set_worker(self, job_id: str, worker_id: str) -> bool:
        """Record who runs a running job (a Ray Serve replica id); False when it is not running."""
        return bool(
            self._update("UPDATE jobs SET worker_id = ? WHERE id = ? AND status = 'running'", (worker_id, job_id))
        )

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        error: tuple[str, str] | None = None,
        result: dict[str, Any] | None = None,
        images: int = 0,
        scores_pending: bool = False,
        owner: str | None = None,
    ) -> bool:
        """End a running job; False when it was not running any more (nothing changed), or with
        `owner`, when that worker no longer holds its lease. A succeeded render reported before its
        quality scores has `scores_pending` (`set_result` brings them)."""
        if status not in TERMINAL:
            raise ValueError(f"finish() needs a terminal status, got {status}")
        code, message = error or (None, None)
        stored = json.dumps(result) if result is not None else None
        pending = int(scores_pending and status == JobStatus.SUCCEEDED)
        held = " AND lease_owner IS ?" if owner is not None else ""
        changed = self._update(
            "UPDATE jobs SET status = ?, finished_at = ?, error_code = ?, error_message = ?, result = ?, images = ?,"
            " scores_pending = ?, step = CASE WHEN ? = 'succeeded' THEN total ELSE step END, lease_until = NULL"
            f" WHERE id = ? AND status = 'running'{held}",
            (str(status), time.time(), code, message, stored, images, pending, str(status), job_id)
            + ((owner,) if owner is not None else ()),
        )
        if changed:
            self.prune()
        return bool(changed)

    def set_result(self, job_id: str, result: dict[str, Any], *, scores_pending: bool = False) -> bool:
        """Replace a succeeded job's result (its scores are in); False when it is gone (nothing changed)."""
        sql = "UPDATE jobs SET result = ?, scores_pending = ? WHERE id = ? AND status = 'succeeded'"
        return bool(self._update(sql, (json.dumps(result), int(scores_pending), job_id)))

    def clear_scores_pending(self) -> int:
        """At start: scores being computed when the server stopped will not come (jobs keep their images)."""
        return self._update("UPDATE jobs SET scores_pending = 0 WHERE scores_pending", ())

    def cancel(self, job_id: str) -> Job:
        """Queued: cancelled at once. Running: flagged (the worker stops it). Finished: 409."""
        with self._lock:
            job = self.get(job_id)
            if job.status == JobStatus.QUEUED:
                self._update(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ?, cancel_requested = 1"
                    " WHERE id = ? AND status = 'queued'",
                    (time.time(), job_id),
                )
            elif job.status == JobStatus.RUNNING:
                self._update("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            else:
                raise Conflict(f"render {job_id} already ended ({job.status}); nothing to cancel", field="id")
            return self.get(job_id)

    def requeue(self, job_id: str) -> bool:
        """A running job goes back to the queue, keeping its place (graceful shutdown: no attempt used).
        One the user asked to cancel ends `cancelled` instead: a cancel is never lost."""
        self._update(
            "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'running'"
            " AND cancel_requested",
            (time.time(), job_id),
        )
        return bool(
            self._update(
                "UPDATE jobs SET status = 'queued', started_at = NULL, step = 0, worker_id = NULL, lease_owner = NULL,"
                " lease_until = NULL, attempts = max(attempts - 1, 0) WHERE id = ? AND status = 'running'",
                (job_id,),
            )
        )

    def recover(self) -> dict[str, int]:
        """After a crash: jobs left `running` are re-queued once, or failed with a reason."""
        with self._lock:
            return leases.recover(self.conn)

    def prune(self) -> int:
        """Drop the oldest finished jobs (rows and files) beyond `max_history`."""
        with self._lock:
            total = self.conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
            excess = total - self.max_history
            if excess <= 0:
                return 0
            oldest = "SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') ORDER BY seq LIMIT ?"
            ids = [r[0] for r in self.conn.execute(oldest, (excess,)).fetchall()]
            self.conn.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in ids])
        for job_id in ids:
            shutil.rmtree(self.renders_dir / job_id, ignore_errors=True)
        return len(ids)
