"""Searching the render history: full text over prompts and region prompts, and filters by a style
used and by the collection a render was bound to, in the jobs database.

The word index is a table of its own in the jobs database (the `jobs` store's migrations make it:
on SQLite `job_text`, FTS5; on PostgreSQL `job_words`, a `tsvector` of each job's words under a GIN
index), one row per job keyed by its `seq`, kept by this module alone: before each search it
indexes the jobs added since the last one (`job_text_state` remembers how far it got), so the job
store needs no change and a database written before it existed is indexed on its first search. A
job pruned from the history leaves its words behind, unused: a search joins on the jobs that
exist. Words match as prefixes, all of them (`red hou` finds "a red house"), in any case and with
or without accents, on both backends: PostgreSQL gets the words split the way FTS5 splits them
(letters and digits), each a lexeme as it is, so its parser and dictionaries change nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, text

from ..database import Database, open_database
from .job import Job

_WORD = re.compile(r"\w+", re.UNICODE)
_LEXEME = re.compile(r"[^\W_]+", re.UNICODE)  # FTS5's unicode61 words: letters and digits
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


def lexemes(words: str) -> list[str]:
    """Words as PostgreSQL's index keeps them: lower case, accents removed, letters and digits."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", words.lower()) if not unicodedata.combining(c))
    return _LEXEME.findall(folded)


def prefix_query(q: str) -> str | None:
    """The PostgreSQL `tsquery` for free text: every word, as a quoted prefix (a literal, never parsed
    by a text search configuration, so no operator of the user's reaches it)."""
    words = lexemes(" ".join(_WORD.findall(q)[:MAX_WORDS]))
    return " & ".join(f"'{w}':*" for w in words) or None


def job_text(params_json: str) -> str:
    """The words of a job that a search looks in: its prompt and its regions' prompts."""
    try:
        params = json.loads(params_json)
    except ValueError:
        return ""
    regions = [r.get("prompt", "") for r in params.get("regions") or [] if isinstance(r, dict)]
    return " ".join([str(params.get("prompt", "")), *map(str, regions)])


# Each filter in both dialects: (SQLite, PostgreSQL); `params`/`result` are JSON text in both.
_WORDS = (
    "j.seq IN (SELECT job_seq FROM job_text WHERE job_text MATCH :match)",
    "j.seq IN (SELECT job_seq FROM job_words WHERE words @@ CAST(:match AS tsquery))",
)
_STYLE = (
    "(EXISTS (SELECT 1 FROM json_each(j.result, '$.styles') s"
    " WHERE json_extract(s.value, '$.style.id') = :style AND json_extract(s.value, '$.weight') IS NOT NULL)"
    " OR EXISTS (SELECT 1 FROM json_each(j.params, '$.style_ids') n WHERE n.value = :style))",
    "(EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(CAST(j.result AS jsonb) -> 'styles')"
    " = 'array' THEN CAST(j.result AS jsonb) -> 'styles' ELSE '[]' END) s"
    " WHERE s.value #>> '{style,id}' = :style AND coalesce(jsonb_typeof(s.value -> 'weight'), 'null') <> 'null')"
    " OR coalesce(CAST(j.params AS jsonb) -> 'style_ids' @> to_jsonb(CAST(:style AS text)), false))",
)
_COLLECTION = (
    "json_extract(j.params, '$.collection') = :collection",
    "CAST(j.params AS jsonb) ->> 'collection' = :collection",
)


class HistoryIndex:
    """The word index over one jobs database: the job store's `Database` (shared, left open by
    `close`), or a location (a SQLite file or a URL) it opens and closes itself."""

    def __init__(self, where: Database | Path | str) -> None:
        self._owned = not isinstance(where, Database)
        self.database = open_database(where, store="jobs") if not isinstance(where, Database) else where

    def close(self) -> None:
        if self._owned:
            self.database.close()

    def _catch_up(self, conn: Connection) -> None:
        """Index the jobs added since the last search (in the caller's write transaction; on PostgreSQL
        the state row's lock makes two processes' catch-ups take turns)."""
        lock = " FOR UPDATE" if self.database.is_postgres else ""
        last = conn.execute(text(f"SELECT last_seq FROM job_text_state WHERE id = 1{lock}")).scalar_one()
        rows = conn.execute(text("SELECT seq, params FROM jobs WHERE seq > :last ORDER BY seq"), {"last": last}).all()
        if not rows:
            return
        if self.database.is_postgres:
            insert = (
                "INSERT INTO job_words (job_seq, words) VALUES (:seq, array_to_tsvector(CAST(:words AS text[])))"
                " ON CONFLICT (job_seq) DO NOTHING"
            )
            values = [{"seq": seq, "words": lexemes(job_text(params))} for seq, params in rows]
        else:
            insert = "INSERT INTO job_text (text, job_seq) VALUES (:words, :seq)"
            values = [{"seq": seq, "words": job_text(params)} for seq, params in rows]
        conn.execute(text(insert), values)
        conn.execute(text("UPDATE job_text_state SET last_seq = :seq WHERE id = 1"), {"seq": rows[-1][0]})

    def search(self, query: HistoryQuery, offset: int = 0, limit: int = 50) -> tuple[list[Job], int]:
        """A page of the matching jobs, newest first, and how many match."""
        pg = int(self.database.is_postgres)
        clauses: list[str] = []
        args: dict[str, object] = {"limit": limit, "offset": offset}
        if (match := (prefix_query if pg else match_expression)(query.q)) is not None:
            clauses.append(_WORDS[pg])
            args["match"] = match
        if query.style:
            clauses.append(_STYLE[pg])
            args["style"] = query.style
        if query.collection:
            clauses.append(_COLLECTION[pg])
            args["collection"] = query.collection
        if query.status:
            clauses.append("j.status = :status")
            args["status"] = query.status
        if query.owner is not None:
            clauses.append("(j.owner = :owner OR j.owner IS NULL)" if query.unowned else "j.owner = :owner")
            args["owner"] = query.owner
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self.database.read() as conn:
            behind = conn.execute(
                text("SELECT last_seq < (SELECT coalesce(max(seq), 0) FROM jobs) FROM job_text_state")
            )
            catch_up = bool(behind.scalar())
        if catch_up:
            with self.database.write() as conn:
                self._catch_up(conn)
        with self.database.read() as conn:
            rows = conn.execute(
                text(f"SELECT j.* FROM jobs j {where} ORDER BY j.seq DESC LIMIT :limit OFFSET :offset"), args
            )
            jobs = [Job.from_row(r) for r in rows.mappings()]
            total = conn.execute(text(f"SELECT count(*) FROM jobs j {where}"), args).scalar_one()
        return jobs, total
