"""Start a project process (action server, timeline consumer) for a test and stop it after."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def stop_process(process: subprocess.Popen, timeout_s: float = 15) -> None:
    """SIGTERM, wait up to `timeout_s`, then SIGKILL: a server's own shutdown gets its chance."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_http_ok(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def project_process(args: list, health_url: str, env: dict, log_path: Path):
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, *args], cwd=PROJECT, env={**os.environ, **env},
                                   stdout=log, stderr=log, start_new_session=True)
        try:
            wait_http_ok(health_url, process)
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


# What `python -m threadline.console` prints once it listens: "... console: http://127.0.0.1:5050/".
CONSOLE_PRINTED = re.compile(r"\bconsole: (http://\S+)/$", re.MULTILINE)


def printed_console_url(log_path: Path, timeout: float = 10) -> str:
    """The address the console printed in its log (without the final slash), as a person would
    copy it into a browser: browser tests open that, not an address of their own making."""
    deadline = time.monotonic() + timeout
    while True:
        found = CONSOLE_PRINTED.search(log_path.read_text(errors="replace")) if log_path.is_file() else None
        if found:
            return found.group(1)
        if time.monotonic() > deadline:
            raise AssertionError(f"the console printed no address in {log_path}")
        time.sleep(0.1)


@contextlib.contextmanager
def action_server(env: dict, log_path: Path, port: int = 0):
    """The project's action server as `make run` starts it (`python -m threadline.action_server --actions
    actions`) with `env`, on `port` (a free one when 0); yields its webhook URL."""
    from tests.support.redis_server import free_port

    port = port or free_port()
    with project_process(["-m", "threadline.action_server", "--actions", "actions", "--port", str(port)],
                         f"http://127.0.0.1:{port}/health", {**env, "ACTION_PORT": str(port)}, log_path):
        yield f"http://127.0.0.1:{port}/webhook"
