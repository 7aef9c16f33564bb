"""The live lane of the job queue (SQL on the store's connection, under its lock): live renders of a
live session go first, a newer one supersedes the session's older queued ones, and the number of
live sessions is bounded. Quality jobs are never starved: at most `LIVE_STREAK` live jobs in a row
while one waits."""

from __future__ import annotations

import sqlite3
import time

from ..errors import QueueFull

LIVE_STREAK = 3  # live jobs claimed in a row before a waiting quality job goes next
SUPERSEDED = "a newer live render of this session replaced it"


def supersede(conn: sqlite3.Connection, owner: str | None, live_session: str) -> int:
    """The session's queued live jobs end `cancelled` (error code `superseded`) without running."""
    return conn.execute(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?, error_code = 'superseded', error_message = ?"
        " WHERE lane = 'live' AND live_session = ? AND owner IS ? AND status = 'queued'",
        (time.time(), SUPERSEDED, live_session, owner),
    ).rowcount


def check_live_room(conn: sqlite3.Connection, owner: str | None, live_session: str, most: int) -> None:
    """A new session beyond `most` live sessions rendering at once is a 429; a known one goes on."""
    rows = conn.execute(
        "SELECT DISTINCT coalesce(owner, '') || '/' || live_session FROM jobs"
        " WHERE lane = 'live' AND status IN ('queued', 'running')"
    ).fetchall()
    sessions = {r[0] for r in rows}
    if f"{owner or ''}/{live_session}" not in sessions and len(sessions) >= most:
        raise QueueFull(f"{len(sessions)} live sessions are rendering; retry in a moment", 1)


def next_live(conn: sqlite3.Connection, streak: int) -> sqlite3.Row | None:
    """The oldest queued live job, unless `streak` live jobs ran in a row and a quality job waits."""
    waiting = conn.execute("SELECT 1 FROM jobs WHERE status = 'queued' AND lane = 'quality' LIMIT 1").fetchone()
    if streak >= LIVE_STREAK and waiting is not None:
        return None
    return conn.execute("SELECT id FROM jobs WHERE status = 'queued' AND lane = 'live' ORDER BY seq LIMIT 1").fetchone()
