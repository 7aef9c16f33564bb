"""The job store: render jobs in the jobs database (a SQLite file under `S2R_HOME`, WAL; or the
PostgreSQL database `S2R_DATABASE_URL` names, shared by several API processes), their files under
`renders/<id>/`. The schema is the `jobs` store's migrations (database/migrations/jobs).

A job's input is written to disk *before* its row is committed, and the row is committed before
the API answers 202, so an accepted job survives a crash at any point. Every state change is a
conditional UPDATE (`... WHERE status = 'running'`), which makes the worker, cancellation and
shutdown race-free without holding a lock across a render. The worker id column names who ran a
job (a worker of some process, or a Ray replica).

`attempts` counts how often a job was started. A running job holds a lease its worker renews
(leases.py); a lapsed one goes back to the queue once (a job that was already retried is failed
with a reason instead), and only the lease's holder may record the job's end. On start-up, jobs
left `running` by a crash are treated the same way: all of them on a SQLite file (one process owns
it), only those whose lease lapsed on a shared database (the others' holders are alive).

Several principals share one queue fairly: each job records its `owner`; one owner may have at
most `owner_max` jobs waiting (429, `PrincipalQueueFull`), and the worker takes the next job
round-robin over owners (claims.py), so one client's long batch never starves another's single
render. Claims, the caps and Idempotency-Key hold across processes: a claim picks and takes its
job in one write transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL), submissions check the caps
and keys under a transaction-scoped lock there, and a duplicate key that still slips in is caught
by the unique index and answered with the job that won.
Left out: retention by age (history is capped by count, `max_history`).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, ResourceClosedError

from ..database import Database, location_url, open_database
from ..errors import Conflict, NotFound
from ..files import atomic_write
from . import admission, leases
from .claims import next_job, take_turn
from .job import NO_INPUTS, TERMINAL, Job, JobInputs, JobStatus, is_job_id
from .lanes import supersede
from .leases import MAX_ATTEMPTS, RESTART_REASON

__all__ = ["INPUT_NAME", "MAX_ATTEMPTS", "RESTART_REASON", "Job", "JobStatus", "JobStore"]

INPUT_NAME = "sketch.input"  # the uploaded bytes, exactly as received (already checked to decode)
DEFAULT_LEASE_S = 60.0  # how long a claim holds a job unless renewed (S2R_JOB_LEASE_S)
SUBMIT_LOCK = zlib.crc32(b"sketch2render:jobs:submit")  # PostgreSQL: one submission checks the caps at a time
STALE_SCORES_S = 600.0  # scores take seconds; a flag this old on a shared database was left by a dead process
CLAIM_TRIES = 3  # a job another process took between our SELECT and UPDATE: look again
Args = Mapping[str, object]


class JobStore:
    """Jobs and their files, at a SQLite file (`where` a Path) or a database URL. Thread-safe:
    pooled connections, every change in its own transaction."""

    def __init__(
        self,
        where: Path | str,
        renders_dir: Path,
        *,
        queue_max: int,
        max_history: int,
        owner_max: int | None = None,
        live_sessions_max: int = 8,
    ) -> None:
        self.url = location_url(where)
        sqlite_file = make_url(self.url).database if self.url.startswith("sqlite") else None
        self.db_path: Path | None = Path(sqlite_file) if sqlite_file else None  # None: not a SQLite file
        self.renders_dir = Path(renders_dir)
        self.queue_max = queue_max
        self.owner_max = min(owner_max or queue_max, queue_max)
        self.live_sessions_max = live_sessions_max
        self.max_history = max_history
        self.renders_dir.mkdir(parents=True, exist_ok=True)
        self._database: Database | None = open_database(self.url, store="jobs")

    # --- plumbing ------------------------------------------------------------------------
    @property
    def database(self) -> Database:
        if self._database is None:
            raise ResourceClosedError("the job store is closed")
        return self._database

    def close(self) -> None:
        database, self._database = self._database, None
        if database is not None:
            database.close()

    @property
    def limits(self) -> admission.QueueLimits:
        return admission.QueueLimits(self.queue_max, self.owner_max, self.live_sessions_max)

    @property
    def closed(self) -> bool:
        return self._database is None

    def _one(self, sql: str, args: Args | None = None) -> RowMapping | None:
        with self.database.read() as conn:
            return conn.execute(text(sql), dict(args or {})).mappings().first()

    def _update(self, sql: str, args: Args) -> int:
        with self.database.write() as conn:
            return conn.execute(text(sql), dict(args)).rowcount

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
            with self.database.write() as conn:
                if self.database.is_postgres:  # the caps and keys hold across processes
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SUBMIT_LOCK})
                if idempotency_key and (existing := admission.by_key(conn, idempotency_key, request_hash)):
                    shutil.rmtree(directory, ignore_errors=True)
                    return existing, False
                admission.check_room(conn, self.limits, owner, live_session)
                if live_session is not None:
                    supersede(conn, owner, live_session)
                conn.execute(
                    text(
                        "INSERT INTO jobs (id, status, params, created_at, total, idempotency_key, request_hash,"
                        " owner, lane, live_session, kind, parent) VALUES (:id, 'queued', :params, :created_at,"
                        " :total, :key, :hash, :owner, :lane, :session, :kind, :parent)"
                    ),
                    {
                        "id": job_id,
                        "params": json.dumps(params, sort_keys=True),
                        "created_at": time.time(),
                        "total": int(params.get("steps", 0)),
                        "key": idempotency_key,
                        "hash": request_hash,
                        "owner": owner,
                        "lane": "live" if live_session is not None else "quality",
                        "session": live_session,
                        "kind": inputs.kind,
                        "parent": inputs.parent,
                    },
                )
                row = conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).mappings().one()
        except IntegrityError:  # another process stored the same key between our check and our insert
            shutil.rmtree(directory, ignore_errors=True)
            if idempotency_key and (existing := self._by_key(idempotency_key, request_hash)):
                return existing, False
            raise
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return Job.from_row(row), True

    def _by_key(self, key: str, request_hash: str | None) -> Job | None:
        with self.database.read() as conn:
            return admission.by_key(conn, key, request_hash)

    def _check_room(self, owner: str | None, live_session: str | None = None) -> None:
        with self.database.read() as conn:
            admission.check_room(conn, self.limits, owner, live_session)

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free: the mean duration of recent renders."""
        with self.database.read() as conn:
            return admission.retry_after(conn)

    # --- reading -------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        row = self._one("SELECT * FROM jobs WHERE id = :id", {"id": job_id}) if is_job_id(job_id) else None
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
        clauses: list[str] = []
        args: dict[str, object] = {"limit": limit, "offset": offset}
        if status:
            clauses.append("status = :status")
            args["status"] = str(status)
        if owner is not None:
            clauses.append("(owner = :owner OR owner IS NULL)" if unowned else "owner = :owner")
            args["owner"] = owner
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self.database.read() as conn:
            rows = conn.execute(text(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT :limit OFFSET :offset"), args)
            jobs = [Job.from_row(r) for r in rows.mappings()]
            total = conn.execute(text(f"SELECT count(*) FROM jobs {where}"), args).scalar_one()
        return jobs, total

    def counts(self) -> dict[str, int]:
        with self.database.read() as conn:
            found = dict(conn.execute(text("SELECT status, count(*) FROM jobs GROUP BY status")).tuples().all())
        return {str(s): found.get(str(s), 0) for s in JobStatus}

    def depth(self, owner: str | None = None) -> int:
        """Jobs waiting to run (the running one is not counted), of everyone or of one owner."""
        with self.database.read() as conn:
            return admission.depth(conn, owner)

    def queued_by_owner(self) -> dict[str, int]:
        """Waiting jobs per owner (`""` for jobs from before owners), for the metrics."""
        with self.database.read() as conn:
            rows = conn.execute(text("SELECT owner, count(*) FROM jobs WHERE status = 'queued' GROUP BY owner"))
            return {owner or "": n for owner, n in rows.tuples()}

    # --- the worker's transitions ----------------------------------------------------------
    def claim_next(self, worker_id: str, lease_s: float = DEFAULT_LEASE_S) -> Job | None:
        """The next job, now `running`, run by `worker_id` and leased to it for `lease_s` seconds
        (None when none waits). The live lane first (live renders never wait behind quality ones),
        but at most `LIVE_STREAK` live jobs in a row while a quality job waits, so a stream of live
        renders never starves the quality lane. Within the quality lane: the oldest queued job of
        the owner whose last start is oldest (never started first), so owners take turns; one
        owner's jobs keep their order (claims.py). Picked and taken in one write transaction."""
        if self._one("SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1") is None:
            return None  # the usual poll: one read, no write transaction
        for _ in range(CLAIM_TRIES):
            with self.database.write() as conn:
                job_id = next_job(conn, self.database.skip_locked)
                if job_id is None:
                    return None
                if leases.claim(conn, job_id, worker_id, lease_s):
                    row = conn.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).mappings().one()
                    take_turn(conn, row["owner"], row["started_at"])
                    return Job.from_row(row)
        return None

    def renew_lease(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend a running job's lease; False when `owner` no longer holds it (leases.py)."""
        with self.database.write() as conn:
            return leases.renew(conn, job_id, owner, lease_s)

    def expire_leases(self) -> list[str]:
        """Re-queue (or fail, attempts used) the running jobs whose lease lapsed; their ids."""
        with self.database.read() as conn:
            if not leases.lapsed(conn, time.time()):
                return []  # the usual case: one read, no write transaction
        with self.database.write() as conn:
            return leases.expire(conn)

    def set_progress(self, job_id: str, step: int, total: int) -> bool:
        """Record progress; False when the job is no longer running (cancelled, re-queued)."""
        return bool(
            self._update(
                "UPDATE jobs SET step = :step, total = :total WHERE id = :id AND status = 'running'",
                {"step": step, "total": total, "id": job_id},
            )
        )

    # --- scale-out: the Ray backend records which replica runs a job -------------------------
    def set_worker(self, job_id: str, worker_id: str) -> bool:
        """Record who runs a running job (a Ray Serve replica id); False when it is not running."""
        sql = "UPDATE jobs SET worker_id = :worker WHERE id = :id AND status = 'running'"
        return bool(self._update(sql, {"worker": worker_id, "id": job_id}))

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
        held = " AND lease_owner = :owner" if owner is not None else ""
        step = "total" if status == JobStatus.SUCCEEDED else "step"
        changed = self._update(
            "UPDATE jobs SET status = :status, finished_at = :now, error_code = :code, error_message = :message,"
            f" result = :result, images = :images, scores_pending = :pending, step = {step}, lease_until = NULL"
            f" WHERE id = :id AND status = 'running'{held}",
            {
                "status": str(status),
                "now": time.time(),
                "code": code,
                "message": message,
                "result": json.dumps(result) if result is not None else None,
                "images": images,
                "pending": int(scores_pending and status == JobStatus.SUCCEEDED),
                "id": job_id,
                "owner": owner,
            },
        )
        if changed:
            self.prune()
        return bool(changed)

    def set_result(self, job_id: str, result: dict[str, Any], *, scores_pending: bool = False) -> bool:
        """Replace a succeeded job's result (its scores are in); False when it is gone (nothing changed)."""
        sql = "UPDATE jobs SET result = :result, scores_pending = :pending WHERE id = :id AND status = 'succeeded'"
        return bool(self._update(sql, {"result": json.dumps(result), "pending": int(scores_pending), "id": job_id}))

    def clear_scores_pending(self) -> int:
        """At start: scores being computed when the server stopped will not come (jobs keep their images).
        On a database other processes share, only those of jobs that ended `STALE_SCORES_S` ago: a
        live process may be scoring its own latest renders right now."""
        if not self.database.is_postgres:
            return self._update("UPDATE jobs SET scores_pending = 0 WHERE scores_pending <> 0", {})
        return self._update(
            "UPDATE jobs SET scores_pending = 0 WHERE scores_pending <> 0 AND finished_at < :cut",
            {"cut": time.time() - STALE_SCORES_S},
        )

    def cancel(self, job_id: str) -> Job:
        """Queued: cancelled at once. Running: flagged (the worker stops it). Finished: 409."""
        self.get(job_id)  # an unknown id: 404
        with self.database.write() as conn:
            status = conn.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}).scalar()
            if status == JobStatus.QUEUED:
                conn.execute(
                    text(
                        "UPDATE jobs SET status = 'cancelled', finished_at = :now, cancel_requested = 1"
                        " WHERE id = :id AND status = 'queued'"
                    ),
                    {"now": time.time(), "id": job_id},
                )
            elif status == JobStatus.RUNNING:
                conn.execute(text("UPDATE jobs SET cancel_requested = 1 WHERE id = :id"), {"id": job_id})
            elif status is not None:  # None: pruned meanwhile (the `get` below says 404)
                raise Conflict(f"render {job_id} already ended ({status}); nothing to cancel", field="id")
        return self.get(job_id)

    def requeue(self, job_id: str) -> bool:
        """A running job goes back to the queue, keeping its place (graceful shutdown: no attempt used).
        One the user asked to cancel ends `cancelled` instead: a cancel is never lost."""
        with self.database.write() as conn:
            return leases.give_back(conn, job_id)

    def recover(self) -> dict[str, int]:
        """At start: jobs left `running` by a crash are re-queued once, or failed with a reason. On a
        database other processes share, only those whose lease lapsed (leases.py)."""
        with self.database.write() as conn:
            return leases.recover(conn, shared=self.database.is_postgres)

    def prune(self) -> int:
        """Drop the oldest finished jobs (rows and files) beyond `max_history`."""
        with self.database.write() as conn:
            excess = conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() - self.max_history
            if excess <= 0:
                return 0
            oldest = "SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') ORDER BY seq LIMIT :n"
            ids = list(conn.execute(text(oldest), {"n": excess}).scalars())
            if ids:
                conn.execute(text("DELETE FROM jobs WHERE id = :id"), [{"id": i} for i in ids])
        for job_id in ids:
            shutil.rmtree(self.renders_dir / job_id, ignore_errors=True)
        return len(ids)
