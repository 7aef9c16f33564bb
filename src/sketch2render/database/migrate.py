"""Schemas as Alembic migrations, one script folder per store (`migrations/<store>/versions/`),
run the same way on SQLite and PostgreSQL when a store opens its database.

Each store keeps its own version table (`alembic_version_<store>`), so on PostgreSQL, where every
store shares one database, the stores migrate independently, and on SQLite each file knows its own
version. Two processes starting together on one PostgreSQL do not race: the upgrade runs under a
transaction-scoped advisory lock (on SQLite, `BEGIN IMMEDIATE` serialises them).
A store's first revision also adopts a database its hand-written schema made before migrations
existed (it brings it to the same shape), so an existing data folder upgrades in place.
"""

from __future__ import annotations

import zlib
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from .engine import Database

MIGRATIONS = Path(str(resources.files(__package__) / "migrations"))
STORES = tuple(sorted(p.name for p in MIGRATIONS.iterdir() if (p / "env.py").is_file()))


def version_table(store: str) -> str:
    return f"alembic_version_{store}"


def config(database: Database) -> Config:
    """The Alembic configuration of `database`'s store (no alembic.ini: everything is set here)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS / database.store))
    cfg.attributes["version_table"] = version_table(database.store)
    return cfg


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the store's schema to `revision` (the newest by default), in one transaction."""
    cfg = config(database)
    with database.write() as connection:
        if database.is_postgres:
            lock = zlib.crc32(f"sketch2render:{database.store}".encode())
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current(database: Database) -> str | None:
    """The store's schema revision (None: not created yet)."""
    from alembic.runtime.migration import MigrationContext

    with database.read() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table(database.store)})
        return context.get_current_revision()
