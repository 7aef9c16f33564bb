"""The jobs table and its indexes. A SQLite file made by the hand-written schema from before
migrations (versions 1 to 6 in `PRAGMA user_version`) is adopted: the columns it lacks are added
with their defaults (rows from before owners keep no owner, rows from before kinds are renders, a
"scores pending" flag kept in the result JSON becomes the column), so an existing data folder
upgrades in place. SQLite's `user_version` is set to the hand-written schema's last version, so
a release from before migrations finds nothing left to do in the file.

Revision ID: jobs_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "jobs_0001"
down_revision = None
branch_labels = None
depends_on = None

LEGACY_VERSION = 6  # the hand-written schema's last `user_version`
# The columns the hand-written schema added after its first version, in order, as it added them.
LEGACY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("owner", "TEXT"),
    ("lane", "TEXT NOT NULL DEFAULT 'quality'"),
    ("live_session", "TEXT"),
    ("kind", "TEXT NOT NULL DEFAULT 'render'"),
    ("parent", "TEXT"),
    ("scores_pending", "INTEGER NOT NULL DEFAULT 0"),
    ("lease_until", "REAL"),
    ("lease_owner", "TEXT"),
)
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, status, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_owner_started ON jobs (owner, started_at)",
    "CREATE INDEX IF NOT EXISTS jobs_lane ON jobs (lane, status, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_parent ON jobs (parent)",
)


def _create() -> None:
    op.create_table(
        "jobs",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.Identity(), primary_key=True),  # FIFO
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),  # RenderParams JSON
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("step", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("total", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("error_code", sa.Text),
        sa.Column("error_message", sa.Text),
        sa.Column("result", sa.Text),  # RenderRecipe JSON
        sa.Column("images", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("idempotency_key", sa.Text),
        sa.Column("request_hash", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("worker_id", sa.Text),  # who runs it: a JobWorker or a Ray replica
        sa.Column("cancel_requested", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("owner", sa.Text),  # the principal's name; NULL: stored before principals
        sa.Column("lane", sa.Text, nullable=False, server_default="quality"),  # 'quality' | 'live'
        sa.Column("live_session", sa.Text),
        sa.Column("kind", sa.Text, nullable=False, server_default="render"),  # 'render' | 'edit' | 'upscale'
        sa.Column("parent", sa.Text),  # the job an edit or upscale was made from
        sa.Column("scores_pending", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("lease_until", sa.Float),  # a running job's lease ends then
        sa.Column("lease_owner", sa.Text),  # the worker holding the lease
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="jobs_status_known"
        ),
        sqlite_autoincrement=True,
    )


def _adopt(columns: set[str]) -> None:
    """Bring a table the hand-written schema made up to date (only SQLite files have one)."""
    for name, declaration in LEGACY_COLUMNS:
        if name in columns:
            continue
        op.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
        if name == "scores_pending":  # it was a key of the result JSON, which lost it
            op.execute(
                "UPDATE jobs SET scores_pending = 1, result = json_remove(result, '$.scores_pending')"
                " WHERE status = 'succeeded' AND result LIKE '%\"scores_pending\": true%'"
            )


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if inspector.has_table("jobs"):
        _adopt({column["name"] for column in inspector.get_columns("jobs")})
    else:
        _create()
    for statement in INDEXES:
        op.execute(statement)
    if bind.dialect.name == "sqlite":
        op.execute(f"PRAGMA user_version = {LEGACY_VERSION}")


def downgrade() -> None:
    op.drop_table("jobs")
