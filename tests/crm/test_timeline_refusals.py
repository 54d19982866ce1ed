"""An error the data causes is the event's, not an outage: the timeline worker dead-letters
that event and goes on, instead of retrying it forever as if the CRM were down. PostgreSQL
(SQLite stores a value longer than its column)."""
from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from tests.crm.test_timeline import drain, say
from tests.crm.test_timeline_dead_letter import dead_letters
from tests.support.conversations import DOMAIN
from threadline.conversation.tracker_store import CustomerTrackerStore
from threadline.crm.timeline_worker import TimelineWorker


async def test_a_value_the_database_refuses_is_dead_lettered_and_the_next_message_written(redis_url, crm, crm_url):
    if not crm_url.startswith("postgresql"):
        pytest.skip("SQLite does not enforce column lengths")
    store = CustomerTrackerStore(domain=DOMAIN, host=redis_url)
    client = aioredis.Redis.from_url(redis_url)
    try:
        worker = TimelineWorker(client, crm.crm, block_ms=10)
        await worker.ensure_group()
        await say(store, "cus_ana", "a-channel-name-longer-than-its-column", "hi", "hello", "x-1")
        await say(store, "cus_ana", "sms", "still there?", "yes", "SM2")
        await drain(worker)
        assert [r.text for r in await crm.crm.timeline("cus_ana")] == ["still there?", "yes"]
        reasons = [letter["reason"] for letter in await dead_letters(client)]
        assert reasons and all(reason.startswith("CRM refused the write") for reason in reasons)
        assert worker.status.crm_available and worker.status.last_error is None
        assert (await client.xpending(worker.stream, "crm-timeline"))["pending"] == 0
    finally:
        await store.close()
        await client.close(close_connection_pool=True)
