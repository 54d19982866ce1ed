"""An inbox consumer in a process of its own, for tests that kill a worker with SIGKILL.

    python -m tests.channels.inbox_process REDIS_URL CHANNEL CONSUMER_NAME LEASE_MS [--rasa-lock]

Its handler appends `start <consumer> <event id>` and `done <consumer> <event id>` to the
Redis list `test:journal`; an event whose text is "block" never finishes (a turn in progress
when the process dies). With `--rasa-lock` each turn holds the customer's lock in the Rasa
lock store (default lifetime), as a Rasa turn does.
"""
from __future__ import annotations

import asyncio
import contextlib
import sys


from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import InboxConsumer
from threadline.conversation.lock_store import CustomerLockStore
from threadline.conversation.redis_connection import connect

JOURNAL = "test:journal"


async def main(url: str, channel: str, name: str, lease_ms: int, rasa_lock: bool) -> None:
    redis = connect(url)
    locks = CustomerLockStore(url=url) if rasa_lock else None

    async def handler(event: InboundEvent) -> None:
        async with locks.lock(event.address) if locks else contextlib.nullcontext():
            await redis.rpush(JOURNAL, f"start {name} {event.event_id}")
            if event.text == "block":
                await asyncio.Event().wait()
            await redis.rpush(JOURNAL, f"done {name} {event.event_id}")

    await InboxConsumer(redis, channel, name, handler, lease_ms=lease_ms).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), "--rasa-lock" in sys.argv[5:]))
