"""Alembic environment of the keys store (the API keys, hashed, and their version counter)."""

from sketch2render.database.migrations.env_common import run

run()
