"""The render history's word index (jobs/history.py keeps it): what each dialect searches words with.

- SQLite: an FTS5 table (`job_text`: a job's words, keyed by its `seq`). A file where the history
  made it before migrations keeps it and its rows.
- PostgreSQL: a `tsvector` per job (`job_words`: its words, each a lexeme as the history module
  split it) under a GIN index, which answers prefix queries (`'hou':*`).
Both: `job_text_state`, how far the index got (the jobs after it are indexed on the next search).

Revision ID: jobs_0002
Revises: jobs_0001
"""

from __future__ import annotations

from alembic import op

revision = "jobs_0002"
down_revision = "jobs_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE IF NOT EXISTS job_text USING fts5(text, job_seq UNINDEXED)")
        op.execute(
            "CREATE TABLE IF NOT EXISTS job_text_state"
            " (id INTEGER PRIMARY KEY CHECK (id = 1), last_seq INTEGER NOT NULL)"
        )
        op.execute("INSERT OR IGNORE INTO job_text_state (id, last_seq) VALUES (1, 0)")
        return
    op.execute("CREATE TABLE job_words (job_seq BIGINT PRIMARY KEY, words TSVECTOR NOT NULL)")
    op.execute("CREATE INDEX job_words_words ON job_words USING GIN (words)")
    op.execute("CREATE TABLE job_text_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_seq BIGINT NOT NULL)")
    op.execute("INSERT INTO job_text_state (id, last_seq) VALUES (1, 0)")


def downgrade() -> None:
    op.execute("DROP TABLE job_text_state")
    op.execute("DROP TABLE job_words" if op.get_bind().dialect.name == "postgresql" else "DROP TABLE job_text")
