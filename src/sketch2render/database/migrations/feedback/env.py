"""Alembic environment of the feedback store (signals users gave retrieval)."""

from sketch2render.database.migrations.env_common import run

run()
