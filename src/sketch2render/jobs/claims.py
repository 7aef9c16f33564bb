"""Which queued job runs next (SQL on a connection of the store's, inside the claim's write
transaction): the live lane first (lanes.py), then owners take turns: the oldest queued job of the
owner whose last start is oldest (never started first), one owner's jobs in their order.

Everything is read from the database, so the order holds across the processes that share it. On
PostgreSQL the SELECT takes the row with `FOR UPDATE SKIP LOCKED`: a job another process is
claiming at that moment is passed over, never claimed twice; on SQLite `BEGIN IMMEDIATE` already
lets one writer in at a time.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from .lanes import next_live, same


def next_job(conn: Connection, lock: str) -> str | None:
    """The id of the job to claim next, locked for this transaction (`lock`: the database's
    `skip_locked` clause); None when none waits (or every waiting one is being claimed)."""
    live = next_live(conn, lock)
    if live is not None:
        return live
    eq = same(conn)
    return conn.execute(
        text(
            "SELECT j.id FROM jobs j WHERE j.status = 'queued' AND j.seq = (SELECT min(q.seq) FROM jobs q"
            f" WHERE q.status = 'queued' AND q.owner {eq} j.owner) ORDER BY (SELECT max(r.started_at) FROM jobs r"
            f" WHERE r.owner {eq} j.owner) NULLS FIRST, j.seq LIMIT 1{lock}"
        )
    ).scalar()
