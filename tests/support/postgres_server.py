"""A throwaway PostgreSQL server for tests: `initdb` in a temporary folder, a free port on
loopback, fsync off, stopped and deleted at exit.

Tests never touch the machine's own PostgreSQL on 5432. PostgreSQL refuses to run as root, so
as root the cluster belongs to the `postgres` system user (Debian's packages create it).
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from sqlalchemy import create_engine, text

from tests.support.processes import stop_process
from tests.support.redis_server import free_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start; the reason says which."""


def _binaries() -> Path:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PostgresUnavailable("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    return Path(found[-1]).parent


def _run_as() -> List[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and there is no 'postgres' user to own the test cluster")
    return ["runuser", "-u", "postgres", "--"]


class PostgresServer:
    def __init__(self) -> None:
        bindir, run_as = _binaries(), _run_as()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="threadline-postgres-"))
        if run_as:
            shutil.chown(self.dir, user="postgres")
        data = self.dir / "data"
        initdb = subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                 "--no-sync", "-E", "UTF8"], capture_output=True, text=True)
        if initdb.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise PostgresUnavailable(f"initdb failed: {initdb.stderr.strip()[-300:]}")
        self.process = subprocess.Popen(
            [*run_as, str(bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", f"unix_socket_directories={self.dir}", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        engine = create_engine(self.admin_url, future=True)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    with engine.connect() as connection:
                        connection.execute(text("SELECT 1"))
                    return
                except Exception:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        self.stop()
                        raise PostgresUnavailable("the test PostgreSQL server did not start")
                    time.sleep(0.1)
        finally:
            engine.dispose()

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)


_shared: Optional[PostgresServer] = None


def shared_postgres() -> PostgresServer:
    """One server per test process (starting one takes ~2 s); stopped when the process exits."""
    global _shared
    if _shared is None:
        _shared = PostgresServer()
        atexit.register(_shared.stop)
    return _shared
