"""The inbox on a real Redis: exactly-once storage, per-customer order, failure handling."""
from __future__ import annotations

import asyncio
import random

from redis.asyncio import Redis

from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import Inbox, InboxConsumer
from tests.support.waiting import wait_for


def event(address: str, n: int) -> InboundEvent:
    return InboundEvent(channel="test", kind="message", event_id=f"{address}-{n}", address=address, text=str(n))


async def test_concurrent_accepts_store_each_event_once(redis_url):
    redis = Redis.from_url(redis_url)
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    batch = [event("a", n) for n in range(20)]
    results = await asyncio.gather(*(inbox.accept(batch) for _ in range(5)))
    assert sorted(results) == [0, 0, 0, 0, 20]
    assert await redis.xlen("tl:inbox:test") == 20
    assert 0 < await redis.ttl("tl:dedupe:test:a-0") <= 60
    await redis.close()


async def test_one_customers_messages_run_in_order_others_concurrently(redis_url):
    redis = Redis.from_url(redis_url)
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    seen, running, peak = {}, 0, 0

    async def slow_handler(e: InboundEvent) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(random.uniform(0.001, 0.02))
        seen.setdefault(e.address, []).append(int(e.text))
        running -= 1

    consumer = InboxConsumer(redis, "test", "c1", slow_handler, block_ms=100)
    task = asyncio.create_task(consumer.run())
    for n in range(30):
        await inbox.accept([event(f"customer{c}", n) for c in range(5)])
    await wait_for(lambda: sum(map(len, seen.values())) == 150)
    assert all(order == list(range(30)) for order in seen.values())
    assert peak > 1  # different customers did not wait for each other
    await wait_for(lambda: _empty(redis))
    await consumer.stop()
    task.cancel()
    await redis.close()


async def _empty(redis):
    return await redis.xlen("tl:inbox:test") == 0


async def test_failing_event_is_retried_then_dead_lettered_without_blocking_others(redis_url):
    redis = Redis.from_url(redis_url)
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    done = []

    async def handler(e: InboundEvent) -> None:
        if e.address == "poison":
            raise ValueError("bot crashed on this one")
        done.append(e.event_id)

    consumer = InboxConsumer(redis, "test", "c1", handler, block_ms=100, claim_idle_ms=100, max_attempts=3)
    task = asyncio.create_task(consumer.run())
    await inbox.accept([event("poison", 1), event("fine", 1)])
    await wait_for(lambda: done == ["fine-1"])
    dead = await wait_for(lambda: redis.xrange("tl:inbox:test:dead"), timeout=15)
    assert b"poison-1" in dead[0][1][b"event"]
    assert (await redis.xpending("tl:inbox:test", "threadline"))["pending"] == 0
    await consumer.stop()
    task.cancel()
    await redis.close()


async def test_stop_finishes_running_handlers_and_starts_no_new_ones(redis_url):
    redis = Redis.from_url(redis_url)
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    await inbox.accept([event(f"customer{c}", 1) for c in range(20)])  # a backlog
    started, finished = [], []

    async def handler(e: InboundEvent) -> None:
        started.append(e.event_id)
        await asyncio.sleep(0.3)
        finished.append(e.event_id)

    consumer = InboxConsumer(redis, "test", "c1", handler, block_ms=100, max_in_flight=4)
    task = asyncio.create_task(consumer.run())
    await wait_for(lambda: len(started) == 4)
    await consumer.stop()
    assert sorted(finished) == sorted(started) and len(started) == 4  # none cut off, none begun late
    await asyncio.sleep(0.5)
    assert len(started) == 4
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await redis.xlen("tl:inbox:test") == 16  # the rest wait for the next start
    await redis.close()
