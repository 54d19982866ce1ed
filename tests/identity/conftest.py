"""Fixtures for identity tests: a CRM database on SQLite and on PostgreSQL, Redis, services."""
from __future__ import annotations

import pytest

from tests.support.crm_database import empty_tables, start_postgres
from threadline.crm import Database
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


class RecordingCodeSender:
    """A CodeSender that records what it was asked to send, for tests."""

    def __init__(self) -> None:
        self.sent: list = []

    async def send_code(self, channel: str, address: str, code: str) -> None:
        self.sent.append((channel, address, code))


@pytest.fixture
def code_sender() -> RecordingCodeSender:
    return RecordingCodeSender()
