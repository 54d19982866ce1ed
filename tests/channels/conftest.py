"""Fixtures for channel tests: the scripted bot as `make run` runs it (the server, only
accepting webhooks, plus an inbox worker answering them; real connectors and the real identity
resolver, subprocesses) and the sandbox provider (in the test's event loop), all on loopback,
sharing a private Redis and a CRM database on SQLite in a temporary folder."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Optional

import aiohttp
import pytest

from threadline.conversation.redis_connection import connect
from threadline.crm import Database
from threadline.identity.index import IdentityIndex
from threadline.identity.resolver import IdentityResolver
from threadline.sandbox.config import sandbox_env
from threadline.sandbox.payloads import Delivery
from tests.support.browser import browser, playwright_ready  # noqa: F401  (fixtures)
from tests.support.cut_proxy import CutProxy
from tests.support.redis_server import free_port
from tests.support.sandbox import serve_sandbox

PROJECT = Path(__file__).resolve().parents[2]
CHANNELS = ("whatsapp", "instagram", "sms")


class BotServer:
    """The scripted bot's server: verifies, parses, dedupes, stores and acknowledges webhooks."""

    def __init__(self, env: Dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = int(env["BOT_PORT"])
        self.base = f"http://127.0.0.1:{self.port}/webhooks"
        self.process: Optional[subprocess.Popen] = None
        self.extra: Dict[str, str] = {}

    arguments: tuple = ()

    def start(self, wait: bool = True, **extra: str) -> None:
        self.extra = extra
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen([sys.executable, "-m", "tests.channels.bot_server", *self.arguments],
                                            cwd=PROJECT, env={**self.env, **extra}, stdout=log, stderr=log)
        if wait:
            self.wait_until(self.ready, "start")

    def ready(self) -> bool:
        return all(self.health(channel) == 200 for channel in CHANNELS)

    def health(self, channel: str) -> Optional[int]:
        """Status of the channel's health route; None while nothing listens."""
        try:
            with urllib.request.urlopen(f"{self.base}/{channel}/", timeout=1) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bot server exited; see {self.log_path}")
            if condition():
                return
            time.sleep(0.1)
        raise RuntimeError(f"bot server did not {what} in {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, like a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class ScriptedWorker(BotServer):
    """The scripted bot as an inbox worker process (threadline/inbox_worker.py)."""
    arguments = ("worker",)

    def ready(self) -> bool:
        port = {**self.env, **self.extra}["THREADLINE_INBOX_WORKER_PORT"]
        try:
            url = f"http://127.0.0.1:{port}/health"
            with urllib.request.urlopen(url, timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False


class ScriptedStack:
    """The scripted bot server plus one scripted inbox worker, started and stopped together."""

    def __init__(self, env: Dict[str, str], folder: Path) -> None:
        self.edge = BotServer(env, folder / "edge.log")
        self.worker = ScriptedWorker(env, folder / "worker.log")
        self.base = self.edge.base

    def start(self, wait: bool = True, **extra: str) -> None:
        self.edge.start(wait, **extra)
        self.worker.start(wait, **extra)

    def kill(self) -> None:
        self.worker.kill()
        self.edge.kill()

    def stop(self) -> None:
        self.worker.stop()
        self.edge.stop()

    def log(self) -> str:
        return self.edge.log() + self.worker.log()


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory) -> Dict[str, str]:
    return scripted_env(redis_server, tmp_path_factory)


def scripted_env(redis_server, tmp_path_factory) -> Dict[str, str]:
    """The scripted stack's settings: sandboxed channels on free ports, private Redis and CRM."""
    bot_port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "INSTAGRAM_", "TWILIO_", "RBM_"))}
    env.pop("SANDBOX", None)
    env.update(sandbox_env(env, sandbox_port, bot_port))
    crm = tmp_path_factory.mktemp("crm") / "crm.sqlite3"
    env.update(REDIS_URL=redis_server.url, CRM_DATABASE_URL=f"sqlite:///{crm}", BOT_PORT=str(bot_port),
               RASA_PORT=str(bot_port), THREADLINE_INBOX_CONSUMER="test-consumer", PYTHONPATH=str(PROJECT),
               THREADLINE_INBOX_WORKER_PORT=str(free_port()))
    return env


@pytest.fixture(scope="module")
def bot(channel_env, redis_server, tmp_path_factory):
    # An empty Redis first: a message an earlier file left in an inbox stream (its server had
    # no worker) would otherwise be this bot's first turn, racing the first test's flush.
    redis_server.flush()
    server = ScriptedStack(channel_env, tmp_path_factory.mktemp("bot"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def sandbox(channel_env, redis_server):
    redis_server.flush()
    async with serve_sandbox(channel_env, int(channel_env["THREADLINE_SANDBOX_PORT"])) as provider:
        yield provider


@pytest.fixture
async def identity(channel_env):
    """The real resolver on the bot server's CRM database and Redis, to look customers up."""
    resolver = IdentityResolver(Database(channel_env["CRM_DATABASE_URL"]), IdentityIndex.from_url(channel_env["REDIS_URL"]))
    yield resolver
    await resolver.close()


@pytest.fixture
async def store(channel_env):
    client = connect(channel_env["REDIS_URL"])
    yield client
    await client.close()


async def post(url: str, delivery: Delivery) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=delivery.body, headers=delivery.headers) as response:
            await response.read()
            return response.status



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing channel test shows the end of its bot's logs (no message bodies there)."""
    outcome = yield
    report = outcome.get_result()
    bot = getattr(item, "funcargs", {}).get("bot")
    if report.failed and isinstance(bot, ScriptedStack):
        for part in (bot.edge, bot.worker):
            if part.log_path.exists():
                report.sections.append((f"{part.log_path.name}, last 40 lines",
                                        "\n".join(part.log().splitlines()[-40:])))


@pytest.fixture
def edge(channel_env, redis_server, tmp_path):
    """The scripted server alone (the webhook edge): a test starts the inbox workers it needs."""
    server = BotServer(channel_env, tmp_path / "edge.log")
    server.start()
    yield server
    server.stop()
    redis_server.flush()  # (after the worker stopped) no stored message is left for the next module's bot



@pytest.fixture
async def proxy(bot, channel_env):
    """A proxy to the bot server the test can cut (for a module whose env has PROXY_PORT:
    tests/support/webchat.py `with_proxy`)."""
    cut = CutProxy(int(channel_env["PROXY_PORT"]), int(channel_env["BOT_PORT"]))
    await cut.restore()
    yield cut
    await cut.cut()
