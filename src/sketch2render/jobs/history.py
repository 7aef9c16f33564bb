"""Searching the render history: full text over prompts and region prompts (SQLite FTS5), and filters
by a style used and by the collection a render was bound to.

The word index is a table of its own in the jobs database (`job_text`, FTS5, one row per job: its
prompt and its regions' prompts, keyed by the job's `seq`), kept by this module alone: before each
search it indexes the jobs added since the last one (`job_text_state` remembers how far it got), so
the job store needs no change and a database written before it existed is indexed on its first
search. A job pruned from the history leaves its words behind, unused: a search joins on the jobs
that exist. Words match as prefixes, all of them (`red hou` finds "a red house").
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from .job import Job

_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS job_text USING fts5(text, job_seq UNINDEXED);
CREATE TABLE IF NOT EXISTS job_text_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_seq INTEGER NOT NULL);
INSERT OR IGNORE INTO job_text_state (id, last_seq) VALUES (1, 0);
"""
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 20


@dataclass(frozen=True)
class HistoryQuery:
    """What to find: words (`q`), a style used (`style`), a collection (`collection`); whose renders
    (`owner` None: everyone's; `unowned`: also those stored before owners existed)."""

    q: str = ""
    style: str | None = None
    collection: str | None = None
    owner: str | None = None
    unowned: bool = False
    status: str | None = None


def match_expression(q: str) -> str | None:
    """The FTS5 query for free text: every word, as a quoted prefix (no operator of the user's reaches FTS5)."""
    words = _WORD.findall(q.lower())[:MAX_WORDS]
    return " ".join(f'"{w}"*' for w in words) or None


def job_text(params_json: str) -> str:
    """The words of a job that a search looks in: its prompt and its regions' prompts."""
    try:
        params = json.loads(params_json)
    except ValueError:
        return ""
    regions = [r.get("prompt", "") for r in params.get("regions") or [] if isinstance(r, dict)]
    return " ".join([str(params.get("prompt", "")), *map(str, regions)])


class HistoryIndex:
    """The word index over one jobs database (its own connection, WAL like the store's)."""

    def __init__(self, db_path: Path) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(Path(db_path), isolation_level=None, check_same_thread=False, timeout=10.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _catch_up(self) -> None:
        """Index the jobs added since the last search."""
        last = self._conn.execute("SELECT last_seq FROM job_text_state WHERE id = 1").fetchone()[0]
        rows = self._conn.execute("SELECT seq, params FROM jobs WHERE seq > ? ORDER BY seq", (last,)).fetchall()
        if not rows:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT INTO job_text (text, job_seq) VALUES (?, ?)", [(job_text(r["params"]), r["seq"]) for r in rows]
            )
            self._conn.execute("UPDATE job_text_state SET last_seq = ? WHERE id = 1", (rows[-1]["seq"],))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def search(self, query: HistoryQuery, offset: int = 0, limit: int = 50) -> tuple[list[Job], int]:
        """A page of the matching jobs, newest first, and how many match."""
        clauses, args = [], []
        if (match := match_expression(query.q)) is not None:
            clauses.append("j.seq IN (SELECT job_seq FROM job_text WHERE job_text MATCH ?)")
            args.append(match)
        if query.style:
            clauses.append(
                "(EXISTS (SELECT 1 FROM json_each(j.result, '$.styles') s"
                " WHERE json_extract(s.value, '$.style.id') = ? AND json_extract(s.value, '$.weight') IS NOT NULL)"
                " OR EXISTS (SELECT 1 FROM json_each(j.params, '$.style_ids') n WHERE n.value = ?))"
            )
            args += [query.style, query.style]
        if query.collection:
            clauses.append("json_extract(j.params, '$.collection') = ?")
            args.append(query.collection)
        if query.status:
            clauses.append("j.status = ?")
            args.append(query.status)
        if query.owner is not None:
            clauses.append("(j.owner = ? OR j.owner IS NULL)" if query.unowned else "j.owner = ?")
            args.append(query.owner)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._lock:
            self._catch_up()
            rows = self._conn.execute(
                f"SELECT j.* FROM jobs j {where} ORDER BY j.seq DESC LIMIT ? OFFSET ?", (*args, limit, offset)
            ).fetchall()
            total = self._conn.execute(f"SELECT count(*) FROM jobs j {where}", args).fetchone()[0]
        return [Job.from_row(r) for r in rows], total
