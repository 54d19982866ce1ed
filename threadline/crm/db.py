"""Opening the CRM database and running blocking work off the event loop.

SQLAlchemy 1.4's sync engine is used; async callers go through `Database.run`, which runs a
function with a session in a worker thread and commits it (or rolls back on error).
"""
from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Callable, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from threadline.settings import Settings

T = TypeVar("T")
CONFLICT_RETRIES = 8
MIGRATION_ATTEMPTS = 20
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


# "check": processes only verify the schema is current and refuse to start otherwise, so that
# `bin/threadline migrate` (a deploy step, a Kubernetes Job) is the one place that migrates.
# Unset ("auto"): every process migrates at start, as `make run` from a bare checkout needs.
MIGRATE_ENV = "THREADLINE_MIGRATE"


class SchemaNotCurrent(Exception):
    """The CRM database's schema is not the one this code needs, and this process may not migrate."""


class ConcurrentChange(Exception):
    """Raised inside a transaction that found another writer changed what it had read."""


def default_database_url() -> str:
    """CRM_DATABASE_URL, or a SQLite file in the git-ignored var/ folder."""
    url = os.environ.get("CRM_DATABASE_URL", "").strip()
    if url:
        return url
    var_dir = Settings.from_env().var_dir
    var_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{var_dir / 'crm.sqlite3'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't wait for the writer
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, future=True, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, future=True, pool_pre_ping=True, pool_size=5, max_overflow=10)


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class Database:
    """One CRM database: an engine, a session factory and `run()` for async callers."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)
        if migrate and os.environ.get(MIGRATE_ENV, "").strip().lower() == "check":
            self.check_schema()
        elif migrate:
            self.upgrade()

    def schema_revisions(self) -> tuple:
        """(the database's revision, the newest migration's)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision(), head

    def check_schema(self) -> None:
        """Refuse (SchemaNotCurrent) unless the schema is the newest migration's."""
        current, head = self.schema_revisions()
        if current != head:
            raise SchemaNotCurrent(
                f"the CRM schema is at revision {current or 'none'}, this version needs {head}: "
                f"run `bin/threadline migrate` first ({MIGRATE_ENV}=check)")

    @classmethod
    def from_env(cls) -> "Database":
        return cls(default_database_url())

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (no-op when already there)."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = alembic_config(self.url)
        head = ScriptDirectory.from_config(config).get_current_head()

        def current() -> str | None:
            with self.engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision()

        # Two processes starting together (Rasa and the action server) may both try: the
        # loser's DDL fails or times out on the lock, and it is fine once the winner is done.
        for attempt in range(MIGRATION_ATTEMPTS):
            try:
                if current() == head:
                    return
                with self.engine.begin() as connection:
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                return
            except Exception:
                if attempt == MIGRATION_ATTEMPTS - 1:
                    raise
                time.sleep(0.5)

    def transaction(self, work: Callable[[Session], T], *, retry_conflicts: bool = False) -> T:
        """Run `work(session)` in one transaction, in this thread.

        With `retry_conflicts`, a transaction that lost a race (unique key taken by a
        concurrent writer, SQLite busy) is run again from the start: `work` must be a
        read-decide-write function, so the second run sees the winner and agrees with it.
        """
        for attempt in range(CONFLICT_RETRIES):
            try:
                with self.sessions() as session, session.begin():
                    return work(session)
            except (IntegrityError, OperationalError, ConcurrentChange) as exc:
                retryable = not isinstance(exc, OperationalError) or "locked" in str(exc.orig).lower()
                if not retry_conflicts or not retryable or attempt == CONFLICT_RETRIES - 1:
                    raise
                time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
        raise AssertionError("unreachable")

    async def run(self, work: Callable[[Session], T], *, retry_conflicts: bool = False) -> T:
        """Run `work(session)` in one transaction in a worker thread."""
        return await asyncio.to_thread(self.transaction, work, retry_conflicts=retry_conflicts)

    def dispose(self) -> None:
        self.engine.dispose()
