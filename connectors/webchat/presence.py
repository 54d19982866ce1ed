"""Whether a web chat customer has the widget open right now: each following connection
(socket or event stream) is a member of `tl:webchat:present:<customer id>`, scored by when
it stops counting; it renews itself each time it waits on the transcript (every few
seconds) and leaves when it closes. A server that died leaves members that lapse by
themselves after STALE_S."""
from __future__ import annotations

import time

from redis.asyncio import Redis

PREFIX = "tl:webchat:present:"
STALE_S = 15  # well above the follow loop's 4 s wait


class Presence:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def here(self, customer_id: str, connection_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(PREFIX + customer_id, {connection_id: time.time() + STALE_S})
            pipe.expire(PREFIX + customer_id, STALE_S)
            await pipe.execute()

    async def gone(self, customer_id: str, connection_id: str) -> None:
        await self.redis.zrem(PREFIX + customer_id, connection_id)

    async def anyone(self, customer_id: str) -> bool:
        return bool(await self.redis.zcount(PREFIX + customer_id, time.time(), "+inf"))
