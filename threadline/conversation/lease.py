"""`RedisLease`: at most one holder of a named job across processes (the IMAP reader, the CRM
timeline's reconciliation leader).

A holder takes the key with SET NX PX and a random token, renews it (only while the token is
still its own) more often than it expires, and gives it back on a clean stop; a crashed
holder's lease lapses after `lease_ms`. Redis unreachable counts as not holding: a job that
may run twice must stop rather than guess.
"""
from __future__ import annotations

import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    def __init__(self, redis: Redis, key: str, lease_ms: int) -> None:
        self.redis = redis
        self.key = key
        self.lease_ms = lease_ms
        self.token = uuid.uuid4().hex
        self.held = False
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def renew_every_s(self) -> float:
        return self.lease_ms / 3000

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; raises RedisError when Redis is unreachable."""
        self.held = bool(await self.redis.set(self.key, self.token, nx=True, px=self.lease_ms))
        return self.held

    async def renew(self) -> bool:
        """Extend the lease if it is still ours; false (not held) when it lapsed or Redis is away."""
        try:
            self.held = bool(await self._renew(keys=[self.key], args=[self.token, self.lease_ms]))
        except RedisError:
            self.held = False
        return self.held

    async def hold(self) -> bool:
        """Renew the lease if held, else try to take it; whether it is held now."""
        if self.held:
            return await self.renew()
        try:
            return await self.acquire()
        except RedisError:
            self.held = False
            return False

    async def release(self) -> None:
        self.held = False
        try:
            await self._release(keys=[self.key], args=[self.token])
        except RedisError:
            pass  # it expires on its own
