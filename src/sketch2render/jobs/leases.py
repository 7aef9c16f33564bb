"""The lease of a running job (SQL on the store's connection, under its lock): who holds it
(`lease_owner`, a `JobWorker`) and until when (`lease_until`). The holder renews it while the job
runs; a job whose lease lapsed while this process lives (its worker thread died or hung) goes
back to the queue, or fails once it used its attempts, without a restart. At start, every job
left `running` (a crash) is treated the same way at once.

Plain SQL with the lapse measured against the row's own time stamp, so a database shared by
several processes (PostgreSQL: `FOR UPDATE SKIP LOCKED` in the claim) can follow the same design.
"""

from __future__ import annotations

import sqlite3
import time

MAX_ATTEMPTS = 2  # a job interrupted by a crash or a lapsed lease runs at most twice
RESTART_REASON = "server restarted while rendering (attempt limit reached)"
LEASE_REASON = "its worker stopped renewing its lease while rendering (attempt limit reached)"
_LAPSED = "lease_until < ?"


def claim(conn: sqlite3.Connection, job_id: str, worker_id: str, lease_s: float) -> bool:
    """A queued job becomes `running`, held by `worker_id` for `lease_s` seconds."""
    now = time.time()
    return bool(
        conn.execute(
            "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1, worker_id = ?, step = 0,"
            " lease_owner = ?, lease_until = ? WHERE id = ? AND status = 'queued'",
            (now, worker_id, worker_id, now + lease_s, job_id),
        ).rowcount
    )


def renew(conn: sqlite3.Connection, job_id: str, owner: str, lease_s: float) -> bool:
    """Extend the lease; False when `owner` no longer holds it (re-queued, ended, another worker's)."""
    return bool(
        conn.execute(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' AND lease_owner = ?",
            (time.time() + lease_s, job_id, owner),
        ).rowcount
    )


def lapsed(conn: sqlite3.Connection, now: float) -> list[str]:
    """The running jobs whose lease ended before `now`."""
    rows = conn.execute("SELECT id FROM jobs WHERE status = 'running' AND lease_until < ?", (now,))
    return [row[0] for row in rows.fetchall()]


def release(conn: sqlite3.Connection, where: str, args: tuple, reason: str) -> dict[str, int]:
    """Running jobs matching `where` (inside the caller's transaction): a cancel asked for still
    counts; a job that used its attempts fails with `reason`; the others go back to the queue,
    keeping their place and the attempt they used."""
    now = time.time()
    conn.execute(
        f"UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_until = NULL WHERE status = 'running'"
        f" AND cancel_requested AND {where}",
        (now, *args),
    )
    failed = conn.execute(
        "UPDATE jobs SET status = 'failed', finished_at = ?, error_code = 'interrupted', error_message = ?,"
        f" lease_until = NULL WHERE status = 'running' AND attempts >= ? AND {where}",
        (now, reason, MAX_ATTEMPTS, *args),
    ).rowcount
    requeued = conn.execute(
        "UPDATE jobs SET status = 'queued', started_at = NULL, step = 0, worker_id = NULL, lease_owner = NULL,"
        f" lease_until = NULL WHERE status = 'running' AND {where}",
        args,
    ).rowcount
    return {"requeued": requeued, "failed": failed}


def expire(conn: sqlite3.Connection) -> list[str]:
    """Release the running jobs whose lease lapsed; their ids (mostly none: one cheap read)."""
    now = time.time()
    if not lapsed(conn, now):
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        ids = lapsed(conn, now)
        release(conn, _LAPSED, (now,), LEASE_REASON)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return ids


def recover(conn: sqlite3.Connection) -> dict[str, int]:
    """At start, before any worker runs: every job left `running` was interrupted by a crash."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        counts = release(conn, "1", (), RESTART_REASON)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return counts
