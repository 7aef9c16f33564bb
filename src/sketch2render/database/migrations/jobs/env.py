"""Alembic environment of the jobs store (render jobs, their leases and the history's word index)."""

from sketch2render.database.migrations.env_common import run

run()
