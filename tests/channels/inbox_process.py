"""An inbox consumer in a process of its own, for tests that kill a worker with SIGKILL.

    python -m tests.channels.inbox_process REDIS_URL CHANNEL CONSUMER_NAME LEASE_MS

Its handler appends `start <consumer> <event id>` and `done <consumer> <event id>` to the
Redis list `test:journal`; an event whose text is "block" never finishes (a turn in progress
when the process dies).
"""
from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import InboxConsumer

JOURNAL = "test:journal"


async def main(url: str, channel: str, name: str, lease_ms: int) -> None:
    redis = Redis.from_url(url)

    async def handler(event: InboundEvent) -> None:
        await redis.rpush(JOURNAL, f"start {name} {event.event_id}")
        if event.text == "block":
            await asyncio.Event().wait()
        await redis.rpush(JOURNAL, f"done {name} {event.event_id}")

    await InboxConsumer(redis, channel, name, handler, lease_ms=lease_ms).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
