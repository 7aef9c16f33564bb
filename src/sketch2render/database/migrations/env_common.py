"""What every store's Alembic `env.py` runs: online migrations on the connection `upgrade` passes
(there is no offline mode: the schema is always created by the program that uses it)."""

from __future__ import annotations

from alembic import context


def run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        version_table=context.config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE through a copy where SQLite needs it
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
