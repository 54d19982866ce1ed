"""Throwaway CRM databases for tests: a SQLite file, or a PostgreSQL database created for the
test run and dropped afterwards.

The PostgreSQL database lives in the tests' own server (tests/support/postgres_server.py), never
in the machine's. `THREADLINE_TEST_POSTGRES` (an admin URL) points the tests at another server
instead; even there they only create and drop databases of their own.
"""
from __future__ import annotations

import os
import secrets
from typing import Optional

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.postgres_server import PostgresUnavailable, shared_postgres


def admin_url() -> str:
    return os.environ.get("THREADLINE_TEST_POSTGRES") or shared_postgres().admin_url


def admin_url_for(database_url: str) -> str:
    """The maintenance database of the server that holds `database_url`."""
    return str(make_url(database_url).set(database="postgres"))


class ThrowawayPostgres:
    def __init__(self) -> None:
        self.name = f"threadline_test_{secrets.token_hex(6)}"
        self.admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT", future=True)
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = str(make_url(admin_url()).set(database=self.name))

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def start_postgres() -> tuple[Optional[ThrowawayPostgres], str]:
    """(database, "") or (None, why PostgreSQL is unavailable)."""
    try:
        return ThrowawayPostgres(), ""
    except PostgresUnavailable as exc:  # no server binaries on this machine: skip, don't fail
        return None, f"PostgreSQL not available for tests: {exc}"


def empty_tables(url: str) -> None:
    """Delete every row (keeping the migrated schema) so each test starts clean."""
    from threadline.crm.models import Base

    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()
