"""CRM tests run on SQLite and on a throwaway PostgreSQL database (tests/support/crm_database.py)."""
from __future__ import annotations

from datetime import date

import pytest
import redis.asyncio as aioredis

from actions import crm_context
from tests.identity.conftest import crm_url, postgres_database  # noqa: F401  (shared fixtures)
from threadline.crm import Database
from threadline.crm.backends import CrmServices
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.sql_backend import SqlCrm, SqlOrderBook
from threadline.crm.timeline_worker import TimelineWorker


@pytest.fixture
def database(crm_url):  # noqa: F811
    database = Database(crm_url)
    SeedDemoShop(database, date.today())()
    yield database
    database.dispose()


@pytest.fixture
def crm(database) -> CrmServices:
    """The embedded backend, installed for the actions as the action server would open it."""
    services = CrmServices(SqlCrm(database), SqlOrderBook(database), database)
    crm_context.use_services(services)
    yield services
    crm_context.use_services(None)


@pytest.fixture
async def worker(redis_url, crm):
    """The CRM timeline worker on the same Redis and CRM, driven step by step (`drain`)."""
    client = aioredis.Redis.from_url(redis_url)
    worker = TimelineWorker(client, crm.crm, block_ms=10)
    await worker.ensure_group()
    yield worker
    await client.close(close_connection_pool=True)
