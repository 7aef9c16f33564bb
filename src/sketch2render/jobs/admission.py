"""What a submission must pass before its row is stored (SQL on a connection of the store's): room
in the queue (`queue_max`), in its owner's share (`owner_max`) and in the live lane (lanes.py),
and an Idempotency-Key's earlier job. The store asks once before writing the input files and again
inside the transaction that stores the row (under a lock on PostgreSQL, so the caps hold across
processes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection, text

from ..errors import IdempotencyConflict, PrincipalQueueFull, QueueFull
from .job import Job
from .lanes import check_live_room


@dataclass(frozen=True)
class QueueLimits:
    queue_max: int  # jobs waiting, of everyone
    owner_max: int  # jobs waiting, of one owner (never above `queue_max`)
    live_sessions_max: int  # live sessions rendering at once


def by_key(conn: Connection, key: str, request_hash: str | None) -> Job | None:
    """The job stored with this Idempotency-Key (None: none); a different request with it is a 422."""
    row = conn.execute(text("SELECT * FROM jobs WHERE idempotency_key = :key"), {"key": key}).mappings().first()
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request; use a new key",
            field="Idempotency-Key",
        )
    return Job.from_row(row)


def depth(conn: Connection, owner: str | None = None) -> int:
    """Jobs waiting to run (the running one is not counted), of everyone or of one owner."""
    if owner is None:
        return conn.execute(text("SELECT count(*) FROM jobs WHERE status = 'queued'")).scalar_one()
    sql = "SELECT count(*) FROM jobs WHERE status = 'queued' AND owner = :owner"
    return conn.execute(text(sql), {"owner": owner}).scalar_one()


def retry_after(conn: Connection) -> int:
    """Seconds until a queue slot is likely free: the mean duration of recent renders."""
    mean = conn.execute(
        text(
            "SELECT avg(finished_at - started_at) FROM (SELECT finished_at, started_at FROM jobs"
            " WHERE status = 'succeeded' AND started_at IS NOT NULL ORDER BY seq DESC LIMIT 20) AS recent"
        )
    ).scalar()
    return max(1, min(600, math.ceil(float(mean) if mean is not None else 5.0)))


def check_room(conn: Connection, limits: QueueLimits, owner: str | None, live_session: str | None) -> None:
    """A 429 when the job has no room: the queue is full, its owner has `owner_max` waiting, or (a
    live job) a new session would pass `live_sessions_max`."""
    if live_session is not None:  # the live lane: bounded by sessions (each has one job waiting at most)
        check_live_room(conn, owner, live_session, limits.live_sessions_max)
        return
    waiting = depth(conn)
    if waiting >= limits.queue_max:
        raise QueueFull(f"the render queue is full ({waiting} jobs waiting); retry later", retry_after(conn))
    if owner is None:
        return
    mine = depth(conn, owner)
    if mine >= limits.owner_max:
        # A slot of theirs frees when one of their jobs starts: about one render per waiting owner.
        owners = conn.execute(text("SELECT count(DISTINCT owner) FROM jobs WHERE status = 'queued'")).scalar_one()
        raise PrincipalQueueFull(
            f"you have {mine} renders waiting, the most one key may have ({limits.owner_max}); "
            "retry when one has started",
            min(600, retry_after(conn) * max(1, owners)),
        )
