"""A throwaway HAProxy (Debian's `haproxy`) in front of HTTP servers on loopback: round robin,
health checks every second, our own config in a temp folder, a free port."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

from tests.support.debian import binary
from tests.support.redis_server import free_port

CONFIG = """
global
    maxconn 4000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch

frontend webhooks
    bind 127.0.0.1:{port}
    default_backend servers

backend servers
    balance roundrobin
    option httpchk GET {check_path}
{servers}
"""


class HAProxy:
    def __init__(self, backend_ports: Sequence[int], check_path: str = "/") -> None:
        haproxy = binary("haproxy", "haproxy")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="threadline-haproxy-"))
        servers = "\n".join(f"    server s{index} 127.0.0.1:{port} check inter 1s fall 2 rise 1"
                            for index, port in enumerate(backend_ports))
        config = self.dir / "haproxy.cfg"
        config.write_text(CONFIG.format(port=self.port, check_path=check_path, servers=servers))
        self.log = open(self.dir / "haproxy.log", "ab")
        self.process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("haproxy did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
