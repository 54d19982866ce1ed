"""Start the real Rasa server (credentials.yml, endpoints.yml, trained model), the inbox worker
that runs the channels' bot turns, and the sandbox provider on loopback, as `make run` would,
for end-to-end tests and the webhook benchmark."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Optional

from threadline.launcher import redis_env
from threadline.sandbox.config import sandbox_env
from threadline.training import model_path
from tests.support.processes import wait_http_ok
from tests.support.redis_server import free_port

PROJECT = Path(__file__).resolve().parents[1]


class RasaStack:
    def __init__(self, redis_url: str, log_dir: Path, with_sandbox_process: bool = True,
                 idle_bot: bool = False) -> None:
        self.rasa_port, self.sandbox_port = free_port(), free_port()
        self.token = "bench-token"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "INSTAGRAM_", "TWILIO_"))}
        base.pop("SANDBOX", None)
        self.env: Dict[str, str] = {
            **base, **sandbox_env(base, self.sandbox_port, self.rasa_port), **redis_env(redis_url),
            "RASA_PORT": str(self.rasa_port), "ACTION_PORT": str(free_port()), "RASA_AUTH_TOKEN": self.token,
            "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(PROJECT),
            "THREADLINE_INBOX_CONSUMER": "bench-rasa",
            "THREADLINE_INBOX_WORKER_PORT": str(free_port()),
            # The identity resolver's CRM: a fresh SQLite file, never the project's var/.
            "CRM_DATABASE_URL": f"sqlite:///{log_dir / 'crm.sqlite3'}",
        }
        self.log_dir = log_dir
        self.with_sandbox_process = with_sandbox_process
        # Baseline: the scripted test bot's server alone, accepting with no worker (no bot work at all).
        self.idle_bot = idle_bot
        self.rasa: Optional[subprocess.Popen] = None
        self.worker: Optional[subprocess.Popen] = None
        self.sandbox: Optional[subprocess.Popen] = None
        self.actions: Optional[subprocess.Popen] = None
        self.base = f"http://127.0.0.1:{self.rasa_port}"

    def start(self, timeout_s: float = 240) -> None:
        if not model_path().is_file():
            raise RuntimeError("no trained model: run 'make train' first")
        if self.with_sandbox_process:
            self.sandbox = self._spawn("sandbox", [sys.executable, "-m", "threadline.sandbox"])
        if self.idle_bot:
            self.env.update(BOT_PORT=str(self.rasa_port))
            self.rasa = self._spawn("rasa", [sys.executable, "-m", "tests.channels.bot_server"])
            status_urls = [f"{self.base}/webhooks/sms/"]
        else:
            # The action server, as `make run` starts it (action_session_start is custom).
            self.actions = self._spawn("actions", [
                sys.executable, "-m", "threadline.action_server", "--actions", "actions", "--port", self.env["ACTION_PORT"]])
            wait_http_ok(f"http://127.0.0.1:{self.env['ACTION_PORT']}/health", self.actions)
            self.rasa = self._spawn("rasa", [
                sys.executable, "-m", "threadline.rasa_server", "run", "--enable-api",
                "--port", str(self.rasa_port), "--endpoints", "endpoints.yml", "--credentials",
                "credentials.yml", "--model", str(model_path())])
            self.worker = self._spawn("worker", [
                sys.executable, "-m", "threadline.inbox_worker", "--endpoints", "endpoints.yml",
                "--credentials", "credentials.yml", "--model", str(model_path())])
            status_urls = [f"{self.base}/status?token={self.token}",
                           f"http://127.0.0.1:{self.env['THREADLINE_INBOX_WORKER_PORT']}/health"]
        deadline = time.monotonic() + timeout_s
        while status_urls and time.monotonic() < deadline:
            for name, process in (("rasa", self.rasa), ("worker", self.worker)):
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {self.log_dir / f'{name}.log'}")
            try:
                with urllib.request.urlopen(status_urls[0], timeout=2) as r:
                    if r.status == 200:
                        status_urls.pop(0)
                        continue
            except OSError:
                pass
            time.sleep(0.5)
        if status_urls:
            raise RuntimeError(f"{status_urls[0]} did not answer in time; see {self.log_dir}")

    def _spawn(self, name: str, argv: list) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            return subprocess.Popen(argv, cwd=PROJECT, env=self.env, stdout=log, stderr=log)

    def stop(self) -> None:
        for process in (self.worker, self.rasa, self.actions, self.sandbox):
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
