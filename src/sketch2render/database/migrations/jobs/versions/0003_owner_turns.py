"""Each owner's last turn (when a job of theirs last started), kept as its own small table so the
claim's fair share reads one row per waiting owner instead of every job in the history.
Filled from the jobs already there.

Revision ID: jobs_0003
Revises: jobs_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "jobs_0003"
down_revision = "jobs_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the live streak's reads (the last quality start, the live starts after it) by index, not a history scan
    op.execute("CREATE INDEX IF NOT EXISTS jobs_lane_started ON jobs (lane, started_at)")
    if sa.inspect(op.get_bind()).has_table("owner_turns"):
        return  # a file whose version table was lost (a restored copy): its turns are there
    op.create_table(
        "owner_turns",
        sa.Column("owner", sa.Text, primary_key=True),  # '' for the jobs stored before owners existed
        sa.Column("last_started", sa.Float, nullable=False),
    )
    op.execute(
        "INSERT INTO owner_turns (owner, last_started) SELECT coalesce(owner, ''), max(started_at) FROM jobs"
        " WHERE started_at IS NOT NULL GROUP BY coalesce(owner, '')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS jobs_lane_started")
    op.drop_table("owner_turns")
