"""`ReadWhileLeased`: one IMAP reader per mailbox however many Rasa servers run.

Every server's email channel runs this; only the holder of the Redis lease
`tl:email:reader:{mailbox_key}` reads the mailbox. The holder renews the lease every third of
its length; a renewal that fails (the lease expired or Redis is unreachable) stops its reader
at once, and another server takes the lease within one lease length plus one poll. Two
readers never hold it together; a reader that stops releases it, so the next one starts within
a poll.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from threadline.conversation.lease import RedisLease

log = logging.getLogger(__name__)

LEASE_MS = 30_000
PREFIX = "tl:email:reader:"


class Reader(Protocol):
    async def run(self) -> None: ...


class ReadWhileLeased:
    def __init__(self, redis: Redis, mailbox_key: str, reader: Reader, lease_ms: int = LEASE_MS) -> None:
        self.lease = RedisLease(redis, f"{PREFIX}{mailbox_key}", lease_ms)
        self.key = self.lease.key
        self.reader = reader
        self.holding = asyncio.Event()

    async def run(self) -> None:
        """Wait for the lease, read while it is held, repeat; until cancelled."""
        try:
            while True:
                if await self._try_acquire():
                    await self._read_while_held()
                await asyncio.sleep(self.lease.renew_every_s)
        finally:
            await self.lease.release()

    async def _try_acquire(self) -> bool:
        try:
            return await self.lease.acquire()
        except RedisError as error:
            log.warning("email: IMAP reader lease unavailable (%s); not reading", type(error).__name__)
            return False

    async def _read_while_held(self) -> None:
        log.info("email: this server holds the IMAP reader lease %s", self.key)
        self.holding.set()
        reading = asyncio.create_task(self.reader.run())
        try:
            while not reading.done():
                done, _ = await asyncio.wait({reading}, timeout=self.lease.renew_every_s)
                if not done and not await self.lease.renew():
                    log.warning("email: IMAP reader lease %s lost; this server stops reading", self.key)
                    break
        finally:
            self.holding.clear()
            # Cancelled until it ends: a cancel landing as an IMAP read times out can be turned
            # into a TimeoutError (async_timeout) that the reader takes for a dropped connection.
            while not reading.done():
                reading.cancel()
                await asyncio.wait({reading}, timeout=1)
            if not reading.cancelled() and reading.exception() is not None:
                log.debug("email: the reader ended with %r", reading.exception())
            await self.lease.release()
