"""Alembic environment: our tables only (Optuna migrates its own), with our own version table."""

from alembic import context
from sqlalchemy import text

from zone_explorer.store.db import VERSION_TABLE
from zone_explorer.store.models import Base

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # Workers starting together must not migrate concurrently; the lock is released at commit.
    connection.execute(text("SELECT pg_advisory_xact_lock(727274)"))
context.configure(connection=connection, target_metadata=Base.metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
