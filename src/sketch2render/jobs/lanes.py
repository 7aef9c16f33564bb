"""The live lane of the job queue (SQL on a connection of the store's, inside its transaction): live
renders of a live session go first, a newer one supersedes the session's older queued ones, and the
number of live sessions is bounded. Quality jobs are never starved: at most `LIVE_STREAK` live jobs
in a row while one waits. The streak is read from the jobs' start times, so it holds across the
processes that share a database."""

from __future__ import annotations

import time

from sqlalchemy import Connection, text

from ..errors import QueueFull

LIVE_STREAK = 3  # live jobs claimed in a row before a waiting quality job goes next
SUPERSEDED = "a newer live render of this session replaced it"


def same(conn: Connection) -> str:
    """SQL's null-safe equality in this dialect (`owner IS :owner` matches NULL to NULL)."""
    return "IS NOT DISTINCT FROM" if conn.dialect.name == "postgresql" else "IS"


def supersede(conn: Connection, owner: str | None, live_session: str) -> int:
    """The session's queued live jobs end `cancelled` (error code `superseded`) without running."""
    return conn.execute(
        text(
            "UPDATE jobs SET status = 'cancelled', finished_at = :now, error_code = 'superseded', error_message = :why"
            f" WHERE lane = 'live' AND live_session = :session AND owner {same(conn)} :owner AND status = 'queued'"
        ),
        {"now": time.time(), "why": SUPERSEDED, "session": live_session, "owner": owner},
    ).rowcount


def check_live_room(conn: Connection, owner: str | None, live_session: str, most: int) -> None:
    """A new session beyond `most` live sessions rendering at once is a 429; a known one goes on."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT coalesce(owner, '') || '/' || live_session FROM jobs"
            " WHERE lane = 'live' AND status IN ('queued', 'running')"
        )
    )
    sessions = {r[0] for r in rows}
    if f"{owner or ''}/{live_session}" not in sessions and len(sessions) >= most:
        raise QueueFull(f"{len(sessions)} live sessions are rendering; retry in a moment", 1)


def live_streak(conn: Connection) -> int:
    """Live jobs started since the last quality job started (up to `LIVE_STREAK`)."""
    return conn.execute(
        text(
            "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE lane = 'live' AND started_at > coalesce("
            "(SELECT max(started_at) FROM jobs WHERE lane = 'quality'), -1) LIMIT :most) AS recent"
        ),
        {"most": LIVE_STREAK},
    ).scalar_one()


def next_live(conn: Connection, lock: str) -> str | None:
    """The id of the oldest queued live job, unless `LIVE_STREAK` live jobs ran in a row and a
    quality job waits. `lock` ends the SELECT (`FOR UPDATE SKIP LOCKED` on PostgreSQL)."""
    waiting = conn.execute(text("SELECT 1 FROM jobs WHERE status = 'queued' AND lane = 'quality' LIMIT 1")).first()
    if waiting is not None and live_streak(conn) >= LIVE_STREAK:
        return None
    return conn.execute(
        text(f"SELECT id FROM jobs WHERE status = 'queued' AND lane = 'live' ORDER BY seq LIMIT 1{lock}")
    ).scalar()
