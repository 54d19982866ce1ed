"""The queue page lists the channel messages the bot gave up on: channel, customer, reason and
when, never the message."""
from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import Inbox, InboxConsumer, note_customer
from tests.console.conftest import WA_ID, log_in
from tests.support.waiting import wait_for

WORDS = "meu cartão 4111 1111"


async def dead_letter(redis_url: str, address: str, customer_id: str = "") -> None:
    """A message whose turn fails, through the real inbox, until it is dead-lettered."""
    redis = Redis.from_url(redis_url)

    async def handler(event: InboundEvent) -> None:
        if customer_id:
            note_customer(customer_id)
        raise RuntimeError(f"the CRM refused {event.text!r}")

    consumer = InboxConsumer(redis, "whatsapp", "console-test", handler, max_attempts=1)
    running = asyncio.create_task(consumer.run())
    before = await redis.xlen("tl:inbox:whatsapp:dead")
    try:
        await Inbox(redis, "whatsapp", 60).accept([InboundEvent(
            channel="whatsapp", kind="message", event_id=f"wamid.{address}", address=address, text=WORDS)])
        await wait_for(lambda: _dead_letters_are(redis, before + 1))
    finally:
        await consumer.stop()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await redis.close()


async def _dead_letters_are(redis: Redis, count: int) -> bool:
    return await redis.xlen("tl:inbox:whatsapp:dead") == count


async def test_the_queue_shows_dead_letters_with_customer_and_reason_but_no_message(
        console, redis_url, escalation):
    await dead_letter(redis_url, WA_ID, escalation.customer_id)
    await dead_letter(redis_url, "5511900002222")  # failed before the customer was known
    await log_in(console, "ana")
    page = await (await console.get("/")).text()
    section = page[page.index("Not answered"):]
    assert "<small>2</small>" in section
    assert "Ana Souza" in section and "5511900002222" in section
    assert "RuntimeError: the CRM refused" in section and "WhatsApp" in section
    assert "4111" not in page and "cartão" not in page


async def test_without_dead_letters_the_queue_has_no_such_section(console, escalation):
    await log_in(console, "ana")
    page = await (await console.get("/")).text()
    assert escalation.handoff_id in page and "Not answered" not in page
