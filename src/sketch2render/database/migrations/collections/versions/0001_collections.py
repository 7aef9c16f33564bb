"""The collections and their members (one row per collection, one per (collection, style)). A
`collections.sqlite3` from before migrations already has both tables: it is kept as it is.

Revision ID: collections_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "collections_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = sa.inspect(op.get_bind())
    if not existing.has_table("collections"):
        op.create_table(
            "collections",
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("owner", sa.Text, nullable=False),
            sa.Column("visibility", sa.Text, nullable=False),
            sa.Column("description", sa.Text, nullable=False, server_default=""),
            sa.Column("created_at", sa.Float, nullable=False),
        )
    if not existing.has_table("members"):
        op.create_table(
            "members",
            sa.Column("collection", sa.Text, sa.ForeignKey("collections.name", ondelete="CASCADE"), primary_key=True),
            sa.Column("style_id", sa.Text, primary_key=True),
            sa.Column("added_at", sa.Float, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("members")
    op.drop_table("collections")
