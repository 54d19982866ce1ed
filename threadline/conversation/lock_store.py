"""Rasa lock store: one customer's messages run one at a time, across every server.

Named in endpoints.yml:

    lock_store:
      type: threadline.conversation.lock_store.CustomerLockStore
      url: ${REDIS_URL}

Each message takes a ticket (FIFO: an INCR counter) and waits until its ticket is the
oldest live one. Acquire, renew and release are single Lua scripts, so no two servers can
both see themselves at the head of the queue. A ticket is a lease of `THREADLINE_LOCK_LIFETIME`
seconds (default 20) renewed every third of that while its holder is alive, waiting or
working: a slow action keeps the lock as long as it runs, a crashed server's tickets expire
within one lifetime. 20 s, so a dead inbox worker's customer is answered by another worker
within 30 s (its inbox lease lapses within 15 s, docs/channels.md). Release removes only the caller's own ticket (fencing), so a holder
whose lease was taken away cannot free someone else's turn.

The heartbeat ends when the body does even if its cancellation is lost: a cancel that lands
while a renewal's Redis read is timing out becomes a TimeoutError inside redis-py (async_timeout
converts it, aio-libs/async-timeout#229), redis-py retries, and a heartbeat that only stopped on
cancellation renewed the lock for ever while the turn waited for it to stop.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional, Text

from rasa.core.lock_store import LockError, LockStore
from redis.exceptions import RedisError

from threadline.conversation.redis_connection import (STORE_URL_SETTING, check_url_sync, client_for, redacted,
                                                      validate_url)

log = logging.getLogger(__name__)

KEY_PREFIX = "tl:lock:"
DEFAULT_LIFETIME_S = 20.0
DEFAULT_MAX_WAIT_S = 600.0
# The next in line polls every 5 ms; each ticket further back waits 5 ms longer (max 250 ms),
# so a queue of N waiters costs O(1) polls per holder change, not O(N).
POLL_STEP_S = 0.005
POLL_MAX_S = 0.25

# KEYS: counter, queue (member -> ticket number), leases (member -> expiry ms). ARGV: lifetime ms, token
_ISSUE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local n = redis.call('INCR', KEYS[1])
local member = string.format('%020d', n) .. ':' .. ARGV[2]
redis.call('ZADD', KEYS[2], n, member)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[1]), member)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], 2 * tonumber(ARGV[1]) + 1000) end
return member
"""

# Drop expired tickets, renew ours, report: 0 = we hold the lock, k > 0 = k tickets ahead,
# -1 = our ticket expired (we were presumed dead). ARGV: member, lifetime ms
_POLL = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  redis.call('ZREM', KEYS[2], dead)
  redis.call('ZREM', KEYS[3], dead)
end
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return -1 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], 2 * tonumber(ARGV[2]) + 1000) end
return redis.call('ZRANK', KEYS[2], ARGV[1])
"""

# Remove only our own ticket. Returns 1 if it was still there.
_RELEASE = """
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
return removed
"""


def lifetime_from_env() -> float:
    raw = os.environ.get("THREADLINE_LOCK_LIFETIME", "").strip()
    if not raw:
        return DEFAULT_LIFETIME_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"THREADLINE_LOCK_LIFETIME must be a number of seconds, got {raw!r}")
    if value < 1:
        raise ValueError("THREADLINE_LOCK_LIFETIME must be at least 1 second")
    return value


@dataclass
class HeldLock:
    """What `lock()` yields: the customer and the ticket that holds the lock."""

    conversation_id: str
    ticket: str
    lost: bool = False
    # Set when the body of the `async with` has ended: the heartbeat stops renewing.
    body_ended: bool = False


class CustomerLockStore(LockStore):
    """Atomic FIFO ticket lock per customer id in Redis."""

    def __init__(
        self, endpoint_config: Any = None, url: Optional[str] = None,
        lifetime: Optional[float] = None, max_wait: float = DEFAULT_MAX_WAIT_S,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self.url = validate_url(url or getattr(endpoint_config, "url", None), STORE_URL_SETTING.format("lock store"))
        kwargs = getattr(endpoint_config, "kwargs", {}) or {}
        self.lifetime = float(lifetime or kwargs.get("lifetime") or lifetime_from_env())
        self.max_wait = float(kwargs.get("max_wait", max_wait))
        self.key_prefix = key_prefix
        self.client = client_for(self.url)
        self._issue = self.client.register_script(_ISSUE)
        self._poll = self.client.register_script(_POLL)
        self._release = self.client.register_script(_RELEASE)
        super().__init__()

    @classmethod
    def check_connection(cls, endpoint_config: Any) -> None:
        check_url_sync(getattr(endpoint_config, "url", None), STORE_URL_SETTING.format("lock store"))

    def keys_for(self, conversation_id: str) -> list:
        tag = f"{self.key_prefix}{{{conversation_id}}}"
        return [f"{tag}:n", f"{tag}:q", f"{tag}:l"]

    @asynccontextmanager
    async def lock(
        self, conversation_id: Text, lock_lifetime: Optional[float] = None,
        wait_time_in_seconds: Optional[float] = None,
    ) -> AsyncIterator[HeldLock]:
        """Hold the customer's lock for the body of the `async with`.

        Rasa passes its own 60 s `lock_lifetime`; it is ignored on purpose: our lease is
        renewed while held, and its length is THREADLINE_LOCK_LIFETIME.
        """
        keys = self.keys_for(conversation_id)
        lifetime_ms = int(self.lifetime * 1000)
        token = secrets.token_hex(8)
        ticket = await self._redis("issue", self._issue(keys=keys, args=[lifetime_ms, token]))
        held = HeldLock(conversation_id, ticket.decode())
        heartbeat: Optional[asyncio.Task] = None
        try:
            await self._wait_for_turn(held, keys, lifetime_ms)
            heartbeat = asyncio.create_task(self._keep_alive(held, keys, lifetime_ms))
            yield held
        finally:
            held.body_ended = True
            if heartbeat is not None:
                heartbeat.cancel()
                with suppress(asyncio.CancelledError):
                    await heartbeat
            # A failed release is logged by `_redis` and must not hide the body's own error;
            # the unreleased ticket expires within one lifetime.
            with suppress(LockError):
                await self._redis("release", self._release(keys=keys, args=[held.ticket]))

    async def _wait_for_turn(self, held: HeldLock, keys: list, lifetime_ms: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while True:
            poll = self._poll(keys=keys, args=[held.ticket, lifetime_ms])
            ahead = int(await self._redis("poll", poll))
            if ahead == 0:
                return
            if ahead < 0:
                raise LockError(
                    f"lock ticket for conversation '{held.conversation_id}' expired while waiting"
                )
            if loop.time() > deadline:
                raise LockError(
                    f"waited {self.max_wait:.0f}s for conversation '{held.conversation_id}' "
                    f"({ahead} message(s) ahead); giving up"
                )
            # Each poll also renews our lease, so a live waiter is never presumed dead.
            await asyncio.sleep(min(POLL_STEP_S * ahead, POLL_MAX_S))

    async def _keep_alive(self, held: HeldLock, keys: list, lifetime_ms: int) -> None:
        """Renew the lease every third of its lifetime while the holder works."""
        while not held.body_ended:
            await asyncio.sleep(self.lifetime / 3)
            if held.body_ended:
                return
            try:
                ahead = int(await self._poll(keys=keys, args=[held.ticket, lifetime_ms]))
            except RedisError as error:
                log.error("lock store: renewing %s's lock failed: %s", held.conversation_id, error)
                continue
            if held.body_ended:  # the turn ended during this renewal (its cancel may be lost)
                return
            if ahead != 0:
                held.lost = True
                log.error(
                    "lock store: conversation %s lost its lock while still working (lease "
                    "expired; event loop blocked longer than %.0fs?). Another message may now run "
                    "concurrently.", held.conversation_id, self.lifetime,
                )
                return

    async def _redis(self, operation: str, awaitable):
        try:
            return await awaitable
        except RedisError as error:
            log.error(
                "lock store: %s failed against Redis at %s: %s", operation, redacted(self.url), error,
            )
            raise LockError(f"lock store {operation} failed: {error}") from error

    async def close(self) -> None:
        await self.client.close(close_connection_pool=True)
