"""Alembic environment of the collections store (moodboards of styles)."""

from sketch2render.database.migrations.env_common import run

run()
