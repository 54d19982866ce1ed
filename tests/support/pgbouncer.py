"""A throwaway PgBouncer in front of a test PostgreSQL: Debian's `pgbouncer`, our own config in a
temp folder, a free port on loopback, pool_mode=transaction by default.

The system's PgBouncer service is never touched; a missing pgbouncer is installed with apt-get
when we may (tests/support/debian.py). As root it runs as the `postgres` user (PgBouncer
refuses to run as root), like the test PostgreSQL.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict

import psycopg2
from sqlalchemy.engine import make_url

from tests.support.debian import binary
from tests.support.postgres_server import _run_as
from tests.support.processes import stop_process
from tests.support.redis_server import free_port

CONFIG = """
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/users.txt
admin_users = {user}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = 500
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
"""


class PgBouncer:
    """PgBouncer for the server of `database_url`; `url_for(database_url)` goes through it.
    `pool_size` server connections per database and user: fewer than the clients, so clients
    share server connections between transactions, which is what transaction pooling means."""

    def __init__(self, database_url: str, pool_mode: str = "transaction", pool_size: int = 2) -> None:
        pgbouncer = binary("pgbouncer", "pgbouncer")
        target = make_url(database_url)
        self.user = target.username or "postgres"
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="threadline-pgbouncer-"))
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(CONFIG.format(
            host=target.host or "127.0.0.1", port=target.port or 5432, listen_port=self.port, dir=self.dir,
            user=self.user, pool_mode=pool_mode, pool_size=pool_size))
        run_as = _run_as()
        if run_as:
            shutil.chown(self.dir, user="postgres")
            for name in ("users.txt", "pgbouncer.ini"):
                shutil.chown(self.dir / name, user="postgres")
        self.process = subprocess.Popen([*run_as, pgbouncer, str(self.dir / "pgbouncer.ini")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_until_ready()

    def url_for(self, database_url: str) -> str:
        return str(make_url(database_url).set(host="127.0.0.1", port=self.port))

    def _admin(self):
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="pgbouncer")
        connection.autocommit = True  # the admin console has no transactions
        return connection

    def show(self, what: str) -> list[Dict[str, object]]:
        """`SHOW POOLS`, `SHOW STATS`, ... of the admin console, as dicts."""
        connection = self._admin()
        try:
            cursor = connection.cursor()
            cursor.execute(f"SHOW {what}")
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            connection.close()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self._admin().close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    log = self.dir / "pgbouncer.log"
                    tail = log.read_text()[-500:] if log.is_file() else ""
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start: {tail}")
                time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)
