"""Server-sent events: the queue and the conversation view update without a reload."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime

from threadline.crm.interface import InteractionRecord
from threadline.crm.sql_backend import SqlCrm
from tests.console.conftest import escalate, log_in


async def next_event(stream, name: str, timeout: float = 10.0) -> dict:
    """The data of the next SSE event called `name` on an open stream."""
    async def read() -> dict:
        current = None
        async for raw in stream.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                current = line[len("event: "):]
            elif line.startswith("data: ") and current == name:
                return json.loads(line[len("data: "):])
        raise AssertionError("stream ended")
    return await asyncio.wait_for(read(), timeout)


async def test_a_new_escalation_appears_in_an_open_queue(console, db, redis_url, escalation):
    await log_in(console, "ana")
    stream = await console.get("/events/queue")
    assert stream.headers["Content-Type"] == "text/event-stream"
    first = await next_event(stream, "queue")
    assert first["count"] == 1 and escalation.handoff_id in first["html"]
    urgent = await escalate(db, redis_url, "sms", "+5511900001111", reason="complaint",
                            summary_text="Angry about a late order.")
    update = await next_event(stream, "queue")
    if update["count"] == 1:  # the periodic refresh (waiting times) came first
        update = await next_event(stream, "queue")
    assert update["count"] == 2
    # Priority 1 (complaint) comes before the earlier priority-2 request.
    assert update["html"].index(urgent.handoff_id) < update["html"].index(escalation.handoff_id)
    stream.close()


async def test_a_new_customer_message_appears_in_the_open_conversation(console, db, escalation):
    await log_in(console, "ana")
    stream = await console.get(f"/events/handoffs/{escalation.handoff_id}")
    await SqlCrm(db).record_interactions([InteractionRecord(
        customer_id=escalation.customer_id, author="customer", channel="whatsapp",
        text="hello? <b>anyone</b>", occurred_at=datetime.utcnow(), idempotency_key="test:1")])
    update = await next_event(stream, "timeline")
    assert "hello? &lt;b&gt;anyone&lt;/b&gt;" in update["html"]  # escaped, never markup
    assert 'class="entry customer"' in update["html"]
    stream.close()
