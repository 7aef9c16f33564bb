"""Which queued job runs next (SQL on a connection of the store's, inside the claim's write
transaction): the live lane first (lanes.py), then owners take turns: the oldest queued job of the
owner whose last turn is oldest (never started first), one owner's jobs in their order.

Everything is read from the database, so the order holds across the processes that share it. Each
owner's last turn is a row of `owner_turns`, written by the claim that starts their job, so a pick
reads the queued jobs and one row per waiting owner, never the finished history. The pick ranks a
few candidates, then takes the first one no other process is claiming at that moment (PostgreSQL:
`FOR UPDATE SKIP LOCKED`; SQLite's `BEGIN IMMEDIATE` already lets one writer in at a time).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from .lanes import next_live

CANDIDATES = 8  # owners' first jobs ranked per pick; one held by another claim passes to the next

_RANKED = text(
    "SELECT id FROM (SELECT j.id, j.seq, t.last_started,"
    " row_number() OVER (PARTITION BY coalesce(j.owner, '') ORDER BY j.seq) AS place"
    " FROM jobs j LEFT JOIN owner_turns t ON t.owner = coalesce(j.owner, '') WHERE j.status = 'queued') AS firsts"
    " WHERE place = 1 ORDER BY last_started NULLS FIRST, seq LIMIT :most"
)


def next_job(conn: Connection, lock: str) -> str | None:
    """The id of the job to claim next, locked for this transaction (`lock`: the database's
    `skip_locked` clause); None when none waits (or every waiting one is being claimed)."""
    live = next_live(conn, lock)
    if live is not None:
        return live
    for job_id in conn.execute(_RANKED, {"most": CANDIDATES}).scalars().all():
        if not lock:
            return job_id
        taken = conn.execute(
            text(f"SELECT id FROM jobs WHERE id = :id AND status = 'queued'{lock}"), {"id": job_id}
        ).scalar()
        if taken is not None:
            return taken
    return None


def take_turn(conn: Connection, owner: str | None, at: float) -> None:
    """Record that `owner`'s job started at `at` (their place in the turns), in the claim's transaction."""
    conn.execute(
        text(
            "INSERT INTO owner_turns (owner, last_started) VALUES (:owner, :at)"
            " ON CONFLICT (owner) DO UPDATE SET last_started = excluded.last_started"
        ),
        {"owner": owner or "", "at": at},
    )
