"""The API keys (only their SHA-256) with their principal's name and role, and a one-row state:
a version counter every change bumps (how each process notices a key added or revoked without
re-reading the table), whether a data folder's `keys.json` was taken in, and the secret that signs
live tokens in every process.

Revision ID: keys_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "keys_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "keys_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("adopted_file", sa.Boolean, nullable=False),
        sa.Column("token_secret", sa.Text, nullable=True),
    )
    op.execute("INSERT INTO keys_state (id, version, adopted_file) VALUES (1, 0, false)")


def downgrade() -> None:
    op.drop_table("keys_state")
    op.drop_table("api_keys")
