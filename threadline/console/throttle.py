"""Slows password guessing: after MAX_FAILURES wrong passwords for one name from one address,
each less than WINDOW_S after the previous one, that pair is refused until WINDOW_S passes
without a failure (Redis counters)."""
from __future__ import annotations

import hashlib

from redis.asyncio import Redis

MAX_FAILURES = 10
WINDOW_S = 15 * 60


def _key(name: str, address: str) -> str:
    digest = hashlib.sha256(f"{name.strip().lower()}\n{address}".encode()).hexdigest()[:32]
    return f"tl:console:failed-logins:{digest}"  # hashed: no names in Redis keys


class LoginThrottle:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def blocked(self, name: str, address: str) -> bool:
        return int(await self.redis.get(_key(name, address)) or 0) >= MAX_FAILURES

    async def failed(self, name: str, address: str) -> None:
        key = _key(name, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_S)  # each failure restarts the window
            await pipe.execute()

    async def succeeded(self, name: str, address: str) -> None:
        await self.redis.delete(_key(name, address))
