"""Throwaway CRM databases for tests: a SQLite file, or a PostgreSQL database created for the
test run on 127.0.0.1:5432 (user postgres, trust auth) and dropped afterwards.

Never touches an existing PostgreSQL database: it only creates and drops its own.
"""
from __future__ import annotations

import os
import secrets
from typing import Optional

from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get("THREADLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class ThrowawayPostgres:
    def __init__(self, admin_url: str = POSTGRES_ADMIN_URL) -> None:
        self.admin_url = admin_url
        self.name = f"threadline_test_{secrets.token_hex(6)}"
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", future=True)
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = admin_url.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def start_postgres() -> tuple[Optional[ThrowawayPostgres], str]:
    """(database, "") or (None, why PostgreSQL is unavailable)."""
    try:
        return ThrowawayPostgres(), ""
    except Exception as exc:  # not installed, not running, no permission: skip, don't fail
        return None, f"PostgreSQL not available at {POSTGRES_ADMIN_URL}: {exc.__class__.__name__}"


def empty_tables(url: str) -> None:
    """Delete every row (keeping the migrated schema) so each test starts clean."""
    from threadline.crm.models import Base

    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()
