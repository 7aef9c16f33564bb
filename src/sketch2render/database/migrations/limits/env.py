"""Alembic environment of the limits store (request rate buckets every API process shares)."""

from sketch2render.database.migrations.env_common import run

run()
