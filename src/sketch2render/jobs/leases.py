"""The lease of a running job (SQL on a connection of the store's, inside its write transaction):
who holds it (`lease_owner`, a `JobWorker`) and until when (`lease_until`). The holder renews it
while the job runs; a job whose lease lapsed (its worker thread died or hung, or its process was
killed) goes back to the queue, or fails once it used its attempts, without a restart.

The lapse is measured against the row's own time stamp, so on a database several processes share
(PostgreSQL) any of them takes over a job whose holder is gone, and none takes a job whose holder
still renews it. At start, on a database this process owns alone (a SQLite file), every job left
`running` was interrupted by a crash and is released at once; on a shared one only the lapsed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import Connection, text

MAX_ATTEMPTS = 2  # a job interrupted by a crash or a lapsed lease runs at most twice
RESTART_REASON = "server restarted while rendering (attempt limit reached)"
LEASE_REASON = "its worker stopped renewing its lease while rendering (attempt limit reached)"
_LAPSED = "lease_until < :now"
_LAPSED_OR_NONE = "(lease_until < :now OR lease_until IS NULL)"  # a row from before leases has none
Args = Mapping[str, object]


def claim(conn: Connection, job_id: str, worker_id: str, lease_s: float) -> bool:
    """A queued job becomes `running`, held by `worker_id` for `lease_s` seconds."""
    now = time.time()
    return bool(
        conn.execute(
            text(
                "UPDATE jobs SET status = 'running', started_at = :now, attempts = attempts + 1, worker_id = :w,"
                " step = 0, lease_owner = :w, lease_until = :until WHERE id = :id AND status = 'queued'"
            ),
            {"now": now, "w": worker_id, "until": now + lease_s, "id": job_id},
        ).rowcount
    )


def renew(conn: Connection, job_id: str, owner: str, lease_s: float) -> bool:
    """Extend the lease; False when `owner` no longer holds it (re-queued, ended, another worker's)."""
    return bool(
        conn.execute(
            text("UPDATE jobs SET lease_until = :until WHERE id = :id AND status = 'running' AND lease_owner = :owner"),
            {"until": time.time() + lease_s, "id": job_id, "owner": owner},
        ).rowcount
    )


def give_back(conn: Connection, job_id: str) -> bool:
    """A running job goes back to the queue, keeping its place and giving back the attempt (a graceful
    shutdown); one the user asked to cancel ends `cancelled` instead. False: it was not running."""
    conn.execute(
        text(
            "UPDATE jobs SET status = 'cancelled', finished_at = :now WHERE id = :id AND status = 'running'"
            " AND cancel_requested <> 0"
        ),
        {"now": time.time(), "id": job_id},
    )
    return bool(
        conn.execute(
            text(
                "UPDATE jobs SET status = 'queued', started_at = NULL, step = 0, worker_id = NULL, lease_owner = NULL,"
                " lease_until = NULL, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
                " WHERE id = :id AND status = 'running'"
            ),
            {"id": job_id},
        ).rowcount
    )


def lapsed(conn: Connection, now: float) -> list[str]:
    """The running jobs whose lease ended before `now`."""
    rows = conn.execute(text(f"SELECT id FROM jobs WHERE status = 'running' AND {_LAPSED}"), {"now": now})
    return [row[0] for row in rows]


def release(conn: Connection, where: str, args: Args, reason: str) -> dict[str, int]:
    """Running jobs matching `where` (inside the caller's transaction): a cancel asked for still
    counts; a job that used its attempts fails with `reason`; the others go back to the queue,
    keeping their place and the attempt they used."""
    values = {**args, "ended": time.time(), "reason": reason, "most": MAX_ATTEMPTS}
    conn.execute(
        text(
            "UPDATE jobs SET status = 'cancelled', finished_at = :ended, lease_until = NULL WHERE status = 'running'"
            f" AND cancel_requested <> 0 AND {where}"
        ),
        values,
    )
    failed = conn.execute(
        text(
            "UPDATE jobs SET status = 'failed', finished_at = :ended, error_code = 'interrupted',"
            f" error_message = :reason, lease_until = NULL WHERE status = 'running' AND attempts >= :most AND {where}"
        ),
        values,
    ).rowcount
    requeued = conn.execute(
        text(
            "UPDATE jobs SET status = 'queued', started_at = NULL, step = 0, worker_id = NULL, lease_owner = NULL,"
            f" lease_until = NULL WHERE status = 'running' AND {where}"
        ),
        values,
    ).rowcount
    return {"requeued": requeued, "failed": failed}


def expire(conn: Connection) -> list[str]:
    """Release the running jobs whose lease lapsed (in the caller's write transaction); their ids."""
    now = time.time()
    ids = lapsed(conn, now)
    if ids:
        release(conn, _LAPSED, {"now": now}, LEASE_REASON)
    return ids


def recover(conn: Connection, *, shared: bool) -> dict[str, int]:
    """At start, before this process's workers run (in the caller's write transaction). Alone on its
    database (`shared` False): every job left `running` was interrupted by a crash. On a database
    other live processes share: only the jobs whose lease lapsed (theirs renew their own)."""
    if shared:
        return release(conn, _LAPSED_OR_NONE, {"now": time.time()}, RESTART_REASON)
    return release(conn, "1 = 1", {}, RESTART_REASON)
