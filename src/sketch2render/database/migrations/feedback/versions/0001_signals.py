"""The signals table, and a one-row version counter every write bumps (how readers in any process
notice a change without scanning the table). A data folder from before migrations keeps its rows.

Revision ID: feedback_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "feedback_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("signals"):
        op.create_table(
            "signals",
            sa.Column("seq", sa.Integer, sa.Identity(), primary_key=True),
            sa.Column("principal", sa.Text, nullable=False),
            sa.Column("prompt", sa.Text, nullable=False),
            sa.Column("style_id", sa.Text, nullable=False),
            sa.Column("signal", sa.Text, nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sqlite_autoincrement=True,
        )
        op.create_index("signals_principal", "signals", ["principal"])
    op.create_table(
        "signals_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO signals_state (id, version) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("signals_state")
    op.drop_table("signals")
