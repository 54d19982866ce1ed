"""Fixtures for identity tests: a CRM database on SQLite and on PostgreSQL, Redis, services,
and real channels for one-time codes (an SMTP server, the sandbox WhatsApp/Twilio provider)."""
from __future__ import annotations

import os

import pytest
from redis.asyncio import Redis

from connectors.code_sender import ChannelCodeSender
from tests.support.redis_server import free_port
from tests.support.smtp_outbox import smtp_outbox
from threadline.sandbox.config import sandbox_env
from tests.support.crm_database import empty_tables, start_postgres
from tests.support.sandbox import serve_sandbox
from threadline.crm import Database
from threadline.identity.claim_limits import ClaimLimits
from threadline.identity.services import IdentityServices


@pytest.fixture(scope="session")
def postgres_database():
    database, why = start_postgres()
    yield database, why
    if database is not None:
        database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def crm_url(request, tmp_path, postgres_database):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    database, why = postgres_database
    if database is None:
        pytest.skip(why)
    Database(database.url).dispose()  # migrate once, then empty for this test
    empty_tables(database.url)
    return database.url


@pytest.fixture
async def services(crm_url, redis_url):
    services = IdentityServices(Database(crm_url), redis_url)
    yield services
    await services.close()


@pytest.fixture
async def claim_limits(redis_url):
    """The claim limits as the action server has them (defaults: `BR` phones, 200 codes an hour)."""
    limits = ClaimLimits(Redis.from_url(redis_url))
    yield limits
    await limits.close()


class RecordingCodeSender:
    """A CodeSender that records what it was asked to send, for tests."""

    def __init__(self) -> None:
        self.sent: list = []
        self.languages: list = []  # the claimant's language of each code

    async def send_code(self, channel: str, address: str, code: str, language=None) -> None:
        self.sent.append((channel, address, code))
        self.languages.append(language)


@pytest.fixture
def code_sender() -> RecordingCodeSender:
    return RecordingCodeSender()


# --- real channels for one-time codes: an SMTP server and the sandbox provider ---------------
@pytest.fixture(scope="session")
def smtp_server():
    with smtp_outbox() as server:
        yield server


@pytest.fixture
def outbox(smtp_server) -> list:
    _, collector = smtp_server
    collector.messages.clear()
    return collector.messages


@pytest.fixture
def channel_env(monkeypatch, smtp_server, redis_url) -> dict:
    """What `make run` gives the action server: sandboxed WhatsApp/SMS, a real SMTP server."""
    controller, _ = smtp_server
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "INSTAGRAM_", "TWILIO_", "EMAIL_"))}
    base["SANDBOX"] = "1"
    env = sandbox_env(base, free_port(), free_port())
    env.update(SANDBOX="1", REDIS_URL=redis_url, EMAIL_ADDRESS="shop@example.com", EMAIL_IMAP_HOST="127.0.0.1",
               EMAIL_IMAP_SECURITY="none", EMAIL_SMTP_HOST="127.0.0.1", EMAIL_SMTP_PORT=str(controller.port),
               EMAIL_SMTP_SECURITY="none")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
async def sandbox(channel_env):
    async with serve_sandbox(channel_env, int(channel_env["THREADLINE_SANDBOX_PORT"]), receipts=False) as provider:
        yield provider


@pytest.fixture
async def channel_sender(sandbox, channel_env):
    sender = ChannelCodeSender.from_env(channel_env["REDIS_URL"])
    yield sender
    await sender.close()
