"""The databases the API keeps its records in: SQLite files in the data folder by default, one
PostgreSQL database for every store when `S2R_DATABASE_URL` names one (several API processes then
act as one service). Stores reach the engine through `Database`; their schemas are Alembic
migrations under `migrations/<store>/`, run for both backends by `upgrade`.
"""

from .engine import Database, location_url, open_database, sqlalchemy_url
from .migrate import STORES, upgrade

__all__ = ["STORES", "Database", "location_url", "open_database", "sqlalchemy_url", "upgrade"]
