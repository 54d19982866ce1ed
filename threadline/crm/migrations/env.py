"""Alembic environment: uses the connection `Database.upgrade` passes, or the configured URL."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from threadline.crm.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), future=True)
    with engine.begin() as own_connection:
        run_migrations(own_connection)
    engine.dispose()
