"""The launcher as `make run` starts it, for tests: its output read line by line as it comes,
an environment without the developer's own settings, free ports, health checks, processes."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from tests.support.processes import PROJECT
from tests.support.redis_server import free_port

# The developer's own Redis, token, CRM and channel settings must not leak into these tests.
FOREIGN_PREFIXES = ("WHATSAPP_", "INSTAGRAM_", "TWILIO_", "RBM_", "EMAIL_", "SANDBOX", "THREADLINE_SANDBOX_")
FOREIGN_NAMES = ("REDIS_URL", "RASA_AUTH_TOKEN", "CRM_DATABASE_URL")


def descendants(pid: int) -> set[int]:
    """All live descendants of `pid`, read from /proc."""
    found: set[int] = set()
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


class LauncherRun:
    """`python -m threadline.launcher` with its output read as it comes."""

    def __init__(self, env: dict) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "threadline.launcher"], cwd=PROJECT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._ended = False  # the launcher closed its output: no line will come any more
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for_line(self, text: str, timeout_s: float, after: int = 0) -> int:
        """The index of the first line from `after` on that contains `text`."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for index in range(after, len(self.lines)):
                    if text in self.lines[index]:
                        return index
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    raise AssertionError(f"no line with {text!r}; last output:\n" + "".join(self.lines[-40:]))
                self._changed.wait(left)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        # Closing the pipe under the reading thread makes it raise: let it reach the end first
        # (a child still holding the pipe keeps it open; the daemon thread then just ends with us).
        self._reader.join(timeout=5)
        if not self._reader.is_alive():
            self.process.stdout.close()


def clean_env(tmp_path: Path, **settings: str) -> dict:
    kept = {k: v for k, v in os.environ.items()
            if k not in FOREIGN_NAMES and not k.startswith(FOREIGN_PREFIXES) and not k.startswith("THREADLINE_")}
    return {**kept, "THREADLINE_VAR_DIR": str(tmp_path / "var"), **settings}


def free_port_pair() -> int:
    """A free port whose next port is free too (the second inbox worker's)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def health(port: int) -> Optional[dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None
