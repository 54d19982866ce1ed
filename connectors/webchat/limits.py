"""Per-visitor and per-address limits of the web chat, counted in Redis (all Rasa servers
share them): fixed one-minute windows, `tl:webchat:limit:<what>:<who>:<minute>`."""
from __future__ import annotations

import hashlib
import time

from redis.asyncio import Redis

PREFIX = "tl:webchat:limit:"
WINDOW_S = 60


class MinuteLimit:
    def __init__(self, redis: Redis, what: str, per_minute: int) -> None:
        self.redis = redis
        self.what = what
        self.per_minute = per_minute

    async def admit(self, who: str) -> bool:
        """Count one more for `who`; False once the minute's allowance is used up."""
        window = int(time.time() // WINDOW_S)
        key = f"{PREFIX}{self.what}:{hashlib.sha256(who.encode()).hexdigest()[:24]}:{window}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, WINDOW_S * 2)
        count, _ = await pipe.execute()
        return int(count) <= self.per_minute
