"""The queue page lists the customer messages the bot will not answer (those it gave up on, mail
older than Threadline's first start): channel, customer, reason and when, never the message."""
from __future__ import annotations

import asyncio
from datetime import datetime

from redis.asyncio import Redis

from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import Inbox, InboxConsumer, note_customer
from tests.console.conftest import WA_ID, escalate, log_in
from tests.support.waiting import wait_for
from threadline.conversation.redis_connection import connect
from threadline.crm.interface import InteractionRecord
from threadline.crm.sql_backend import SqlCrm
from threadline.crm.timeline import UNANSWERED

WORDS = "meu cartão 4111 1111"


async def dead_letter(redis_url: str, address: str, customer_id: str = "") -> None:
    """A message whose turn fails, through the real inbox, until it is dead-lettered."""
    redis = connect(redis_url)

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


async def test_mail_from_before_the_first_start_is_listed_as_not_answered(console, db, redis_url, escalation):
    # Recorded as the email reader records it (connectors/email/unanswered.py).
    bia = (await escalate(db, redis_url, "email", "bia@example.org", name="Bia Lima")).customer_id
    await SqlCrm(db).record_interactions([InteractionRecord(
        customer_id=bia, author="customer", channel="email", text=WORDS, occurred_at=datetime(2026, 11, 20, 9, 30),
        idempotency_key="email-unanswered:test", delivery_status=UNANSWERED)])
    await dead_letter(redis_url, WA_ID, escalation.customer_id)
    await log_in(console, "ana")
    page = await (await console.get("/")).text()
    section = page[page.index("Not answered"):]
    assert "<small>2</small>" in section
    assert section.index("Ana Souza") < section.index("Bia Lima")  # newest first
    assert "arrived before Threadline started" in section and "Email" in section
    assert "4111" not in page and "cartão" not in page
