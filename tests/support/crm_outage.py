"""Make a CRM database unreachable and bring it back, the way an outage looks to the app.

PostgreSQL: the database stops accepting connections and its sessions are cut.
SQLite: the file (and its WAL) is moved away and a directory takes its place, so opening fails.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.crm_database import admin_url_for


@contextlib.contextmanager
def crm_outage(url: str):
    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        moved = [(p, p.with_name(p.name + ".away")) for p in
                 (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.exists()]
        for original, away in moved:
            shutil.move(original, away)
        path.mkdir()
        try:
            yield
        finally:
            path.rmdir()
            for original, away in moved:
                shutil.move(away, original)
        return
    name = make_url(url).database
    admin = create_engine(admin_url_for(url), isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
