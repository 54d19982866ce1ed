"""A throwaway Redis Sentinel set-up for tests: 1 primary, 2 replicas and 3 sentinels, all
on loopback, free ports, temporary folders, stopped afterwards (Debian's `redis-server`; a
sentinel is `redis-server <conf> --sentinel`, what Debian's `redis-sentinel` runs).

`url` is the `redis+sentinel://` URL the project's clients take. Sentinels declare the
primary down after 1 s without answers (production uses more), so a failover takes seconds.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

import redis

from tests.support.redis_server import free_port

SERVICE = "threadline"
DOWN_AFTER_MS = 1000


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    return binary


def _wait(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"sentinel set-up: {what} not reached in {timeout:.0f} s")
        time.sleep(0.05)


class SentinelSetup:
    def __init__(self, replicas: int = 2, sentinels: int = 3, password: Optional[str] = None,
                 sentinel_password: Optional[str] = None) -> None:
        self.password = password  # of the primary and replicas
        self.sentinel_password = sentinel_password  # of the sentinels themselves
        self.dir = Path(tempfile.mkdtemp(prefix="threadline-sentinel-"))
        self.nodes: dict[int, subprocess.Popen] = {}
        self.sentinel_ports: List[int] = []
        self._sentinels: List[subprocess.Popen] = []
        try:
            self._start(replicas, sentinels)
        except BaseException:
            self.stop()
            raise

    # -- start-up ---------------------------------------------------------------------------
    def _start(self, replicas: int, sentinels: int) -> None:
        primary = self._start_node()
        for _ in range(replicas):
            self._start_node(replica_of=primary)
        _wait(lambda: self._online_replicas(primary) == replicas, "replicas in sync")
        for _ in range(sentinels):
            self._start_sentinel(primary)
        # Each sentinel must know the replicas and the other sentinels before a failover can
        # be agreed on (they find each other by hello messages through the primary).
        for port in self.sentinel_ports:
            client = self._sentinel(port)
            _wait(lambda: (int(client.sentinel_master(SERVICE)["num-slaves"]) == replicas
                           and int(client.sentinel_master(SERVICE)["num-other-sentinels"]) == sentinels - 1),
                  "sentinels aware of each other")
            client.close()

    def _start_node(self, replica_of: Optional[int] = None) -> int:
        port = free_port()
        folder = self.dir / f"node-{port}"
        folder.mkdir()
        args = [_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--repl-diskless-sync-delay", "0"]  # replicas sync at once, not after 5 s
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        self.nodes[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: self._node(port).ping(), f"redis-server on {port}")
        return port

    def _start_sentinel(self, primary: int) -> None:
        port = free_port()
        config = self.dir / f"sentinel-{port}.conf"  # sentinels rewrite their config: own file
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
            + (f"sentinel auth-pass {SERVICE} {self.password}\n" if self.password else "")
            + (f"requirepass {self.sentinel_password}\n" if self.sentinel_password else "")
        )
        self._sentinels.append(subprocess.Popen([_binary(), str(config), "--sentinel"],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.sentinel_ports.append(port)
        _wait(lambda: self._sentinel(port).ping(), f"sentinel on {port}")

    def _online_replicas(self, primary: int) -> int:
        info = self._node(primary).info("replication")
        return sum(1 for key, value in info.items()
                   if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online")

    def _node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, decode_responses=True)

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.sentinel_password, socket_timeout=1, decode_responses=True)

    # -- what tests use ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        nodes = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        credentials = f":{self.password}@" if self.password else ""
        options = f"?sentinel_password={self.sentinel_password}" if self.sentinel_password else ""
        return f"redis+sentinel://{credentials}{nodes}/{SERVICE}/0{options}"

    def primary_port(self) -> int:
        """The primary as the first sentinel that answers sees it."""
        for port in self.sentinel_ports:
            try:
                _host, primary = self._sentinel(port).sentinel_get_master_addr_by_name(SERVICE)
                return int(primary)
            except (redis.RedisError, TypeError):
                continue
        raise RuntimeError("no sentinel answers")

    def sentinel_client(self) -> redis.Redis:
        return self._sentinel(self.sentinel_ports[0])

    def role_of(self, port: int) -> str:
        """"master" or "slave", as the node at `port` says."""
        return self._node(port).info("replication")["role"]

    def primary_client(self) -> redis.Redis:
        return self._node(self.primary_port())

    def replica_ports(self) -> List[int]:
        primary = self.primary_port()
        return [port for port, process in self.nodes.items() if port != primary and process.poll() is None]

    def flush(self) -> None:
        client = self.primary_client()
        client.flushall()
        client.wait(len(self.replica_ports()), 5000)

    def wait_replicated(self, timeout: float = 10.0) -> None:
        """Until every live replica has applied everything the primary holds (a test's
        writes made before a failover must not be lost to asynchronous replication)."""
        primary = self.primary_client()

        def caught_up() -> bool:
            info = primary.info("replication")
            offsets = [info[key]["offset"] for key in info if key.startswith("slave") and isinstance(info[key], dict)]
            return len(offsets) == len(self.replica_ports()) and all(
                offset >= info["master_repl_offset"] for offset in offsets)

        _wait(caught_up, "replicas caught up", timeout)

    def kill_primary(self) -> Tuple[int, float]:
        """SIGKILL the primary; returns its port and the monotonic time of the kill."""
        port = self.primary_port()
        process = self.nodes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return port, time.monotonic()

    def stop(self) -> None:
        for process in [*self._sentinels, *self.nodes.values()]:
            if process.poll() is None:
                process.terminate()
        for process in [*self._sentinels, *self.nodes.values()]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
