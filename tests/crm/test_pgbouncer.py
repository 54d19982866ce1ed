"""The CRM through PgBouncer in transaction pooling (docs/deploy.md, "PgBouncer"): a real
PgBouncer (Debian's) in front of the tests' PostgreSQL, with fewer server connections than the
CRM's clients, so consecutive transactions of one client run on different server connections.
`bin/threadline migrate`, concurrent writes and the timeline worker go through it."""
from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import datetime, timezone

import pytest
import redis.asyncio as aioredis

from tests.crm.test_timeline import drain, say, summary
from tests.support.crm_database import start_postgres
from tests.support.pgbouncer import PgBouncer
from threadline.crm import Database
from threadline.crm.interface import InteractionRecord
from threadline.crm.sql_backend import SqlCrm
from threadline.crm.timeline_worker import TimelineWorker
from threadline.settings import PROJECT_DIR

POOL_SIZE = 2


@pytest.fixture
def bounced_url():
    database, why = start_postgres()
    if database is None:
        pytest.skip(why)
    bouncer = PgBouncer(database.url, pool_mode="transaction", pool_size=POOL_SIZE)
    yield bouncer, bouncer.url_for(database.url)
    bouncer.stop()
    database.drop()


def interaction(customer: str, number: int) -> InteractionRecord:
    return InteractionRecord(customer_id=customer, channel="sms", author="customer", text=f"message {number}",
                             occurred_at=datetime(2026, 12, 1, 10, number, tzinfo=timezone.utc),
                             idempotency_key=f"{customer}:{number}")


async def test_migrate_writes_and_the_timeline_work_through_transaction_pooling(bounced_url, store, redis_url):
    bouncer, url = bounced_url
    assert {pool["pool_mode"] for pool in bouncer.show("POOLS") if pool["database"] != "pgbouncer"} <= {"transaction"}

    env = {**os.environ, "CRM_DATABASE_URL": url, "THREADLINE_MIGRATE": "check"}
    migrated = subprocess.run([str(PROJECT_DIR / "bin" / "threadline"), "migrate", "--json"], env=env,
                              capture_output=True, text=True, timeout=180)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    database = Database(url, migrate=False)
    current, head = database.schema_revisions()
    assert current == head
    crm = SqlCrm(database)
    client = aioredis.Redis.from_url(redis_url)
    try:
        # Eight customers written at once from the CRM's thread pool: more clients than the two
        # server connections PgBouncer has, so transactions take turns on them.
        customers = [f"cus_{number}" for number in range(8)]
        written = await asyncio.gather(*(crm.record_interactions([interaction(customer, n) for n in range(5)])
                                         for customer in customers))
        assert written == [5] * 8
        servers = [s for s in bouncer.show("SERVERS") if s["database"] != "pgbouncer"]
        assert 0 < len(servers) <= POOL_SIZE
        again = await asyncio.gather(*(crm.record_interactions([interaction(customer, 0)]) for customer in customers))
        assert again == [0] * 8  # idempotency keys hold across server connections

        # The timeline worker copies a conversation into the CRM through the same pooler.
        worker = TimelineWorker(client, crm, block_ms=10)
        await worker.ensure_group()
        await say(store, "cus_ana", "whatsapp", "oi, cadê meu pedido?", "está a caminho", "wa-1")
        await drain(worker)
        assert summary(await crm.timeline("cus_ana")) == [
            ("customer", "whatsapp", "oi, cadê meu pedido?"), ("bot", "whatsapp", "está a caminho")]
        assert [len(await crm.timeline(customer)) for customer in customers] == [5] * 8

        stats = {row["database"]: row for row in bouncer.show("STATS")}
        database_name = url.rsplit("/", 1)[1]
        assert int(stats[database_name]["total_xact_count"]) > 20  # it all went through PgBouncer
    finally:
        await client.close(close_connection_pool=True)
        database.dispose()
