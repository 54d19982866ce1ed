"""Small helpers shared by the channel tests."""
from __future__ import annotations

import asyncio
import json
from typing import List

from connectors.webhook.events import InboundEvent
from connectors.webhook.records import ChannelRecords
from threadline.identity.lookup import find_by_address
from threadline.identity.resolver import IdentityResolver
from tests.support.waiting import wait_for


async def handled(store, count: int = 1, timeout: float = 10.0) -> List[dict]:
    """The first `count` messages the bot handled (waits for them)."""
    async def check():
        items = await store.lrange("test:handled", 0, -1)
        return [json.loads(i) for i in items] if len(items) >= count else None
    return await wait_for(check, timeout)


async def settle(store, seconds: float = 1.0) -> List[dict]:
    """Everything handled after giving the consumer time to process (for "nothing more")."""
    await asyncio.sleep(seconds)
    return [json.loads(i) for i in await store.lrange("test:handled", 0, -1)]


def sent(sandbox, channel: str, to: str) -> List[dict]:
    return [s for s in sandbox.sent if s["channel"] == channel and s["to"] == to]


async def activity(identity: IdentityResolver, store, channel: str, address: str) -> List[InboundEvent]:
    """Recorded-only events (oldest first) of the customer who owns (channel, address) in the
    CRM; none while nobody does. Looks up without creating, unlike `resolve`."""
    customer_id = await identity.db.run(lambda session: find_by_address(session, channel, address))
    if customer_id is None:
        return []
    return list(reversed(await ChannelRecords(store).recent_activity(customer_id)))
