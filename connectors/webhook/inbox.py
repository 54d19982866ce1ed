"""Durable inbox: dedupe + Redis Stream on the way in, a consumer group on the way out.

The webhook calls `accept()`: one atomic script per event marks the provider's event id as
seen (`tl:dedupe:`) and appends the event to `tl:inbox:<channel>`, so an event is either
stored once or not at all, whatever the number of (concurrent) deliveries. The webhook
answers 200 right after.

`InboxConsumer.run()` (started inside the Rasa server) reads the stream as one consumer of a
consumer group, handles each event, and XACKs (then deletes) it only after the handler
returned. Its own pending entries from before a restart are replayed first; other consumers'
entries idle for longer than `claim_idle_ms` are taken over with XAUTOCLAIM. Events with the
same `order_key` (one customer on one channel) run one after the other, in stream order;
different customers run concurrently.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Dict, Iterable, List, Optional, Set, Tuple

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from connectors.webhook.events import InboundEvent

log = logging.getLogger(__name__)

GROUP = "threadline"
DEAD_LETTER_MAXLEN = 10_000  # per channel; enough to look into, small enough to never fill Redis

# Mark seen and append in one step: never "seen but not stored" after a crash.
_ACCEPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], '*', 'event', ARGV[2])
end
return false
"""


def stream_key(channel: str) -> str:
    return f"tl:inbox:{channel}"


def dedupe_key(channel: str, event_id: str) -> str:
    return f"tl:dedupe:{channel}:{event_id}"


async def ensure_group(redis: Redis, channel: str) -> None:
    """Create the stream and its consumer group (reading from the start) unless they exist."""
    try:
        await redis.xgroup_create(stream_key(channel), GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


class Inbox:
    """The webhook side: store each new event exactly once."""

    def __init__(self, redis: Redis, channel: str, dedupe_ttl_s: int) -> None:
        self.redis = redis
        self.channel = channel
        self.dedupe_ttl_s = dedupe_ttl_s
        self._accept = redis.register_script(_ACCEPT)

    async def accept(self, events: Iterable[InboundEvent]) -> int:
        """Store the events not seen before; returns how many were new."""
        stream = stream_key(self.channel)
        async with self.redis.pipeline(transaction=False) as pipe:
            count = 0
            for event in events:
                keys = [dedupe_key(self.channel, event.event_id), stream]
                await self._accept(keys=keys, args=[self.dedupe_ttl_s, event.to_json()], client=pipe)
                count += 1
            if not count:
                return 0
            results = await pipe.execute()
        return sum(1 for entry_id in results if entry_id)


Handler = Callable[[InboundEvent], Awaitable[None]]


class InboxConsumer:
    """The Rasa side: process stored events at least once, in order per customer."""

    def __init__(
        self,
        redis: Redis,
        channel: str,
        consumer_name: str,
        handler: Handler,
        *,
        is_ready: Callable[[], bool] = lambda: True,
        claim_idle_ms: int = 120_000,
        max_attempts: int = 5,
        max_in_flight: int = 8,
        block_ms: int = 1000,
        dead_letter_maxlen: int = DEAD_LETTER_MAXLEN,
    ) -> None:
        self.redis = redis
        self.channel = channel
        self.stream = stream_key(channel)
        self.dead_stream = f"{self.stream}:dead"
        self.dead_letter_maxlen = dead_letter_maxlen
        self.attempts_key = f"{self.stream}:attempts"
        self.consumer_name = consumer_name
        self.handler = handler
        self.is_ready = is_ready
        self.claim_idle_ms = claim_idle_ms
        self.max_attempts = max_attempts
        self.block_ms = block_ms
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tails: Dict[str, asyncio.Task] = {}
        self._in_flight: Set[str] = set()
        self._stopping = False

    async def ensure_group(self) -> None:
        await ensure_group(self.redis, self.channel)

    async def run(self) -> None:
        await self.ensure_group()
        while not self.is_ready() and not self._stopping:
            await asyncio.sleep(0.2)
        await self._replay_own_pending()
        next_claim = time.monotonic() + self.claim_idle_ms / 1000
        while not self._stopping:
            try:
                if time.monotonic() >= next_claim:
                    await self._claim_abandoned()
                    next_claim = time.monotonic() + self.claim_idle_ms / 2000
                reply = await self.redis.xreadgroup(
                    GROUP, self.consumer_name, {self.stream: ">"}, count=32, block=self.block_ms
                )
                for _, entries in reply or []:
                    await self._dispatch_all(entries)
            except asyncio.CancelledError:
                raise
            except ResponseError as error:
                if "NOGROUP" in str(error) or "UNBLOCKED" in str(error):
                    await self.ensure_group()  # the stream was deleted (e.g. FLUSHALL): start again
                    continue
                log.warning("inbox %s: read failed (%s); retrying in 1 s", self.channel, error)
                await asyncio.sleep(1)
            except Exception as error:  # Redis hiccup: keep the consumer alive
                log.warning("inbox %s: read failed (%s); retrying in 1 s", self.channel, error)
                await asyncio.sleep(1)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop reading and starting handlers; let running ones finish (unfinished ones, and
        entries read but not started, stay pending for the next start or another consumer)."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self._tails and loop.time() < deadline:
            await asyncio.wait(list(self._tails.values()), timeout=deadline - loop.time())

    async def _replay_own_pending(self) -> None:
        """Entries delivered to this consumer name before a crash and never acknowledged."""
        start = "0"
        while True:
            reply = await self.redis.xreadgroup(
                GROUP, self.consumer_name, {self.stream: start}, count=100
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return
            if start == "0":
                log.info("inbox %s: replaying %d pending entries", self.channel, len(entries))
            await self._dispatch_all(entries)
            start = _id(entries[-1][0])

    async def _claim_abandoned(self) -> None:
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                self.stream, GROUP, self.consumer_name, self.claim_idle_ms, start, count=100
            )
            start, entries = _id(reply[0]), reply[1]
            entries = [entry for entry in entries if entry[1]]  # deleted entries come back empty
            if entries:
                log.info("inbox %s: reclaimed %d abandoned entries", self.channel, len(entries))
                await self._dispatch_all(entries)
            if start == "0-0":
                return

    async def _dispatch_all(self, entries: List[Tuple[bytes, dict]]) -> None:
        for raw_id, fields in entries:
            entry_id = _id(raw_id)
            if entry_id in self._in_flight or not fields:
                continue
            await self._slots.acquire()
            if self._stopping:  # waited for a slot while stopping: leave the rest pending
                self._slots.release()
                return
            self._dispatch(entry_id, fields)

    def _dispatch(self, entry_id: str, fields: dict) -> None:
        try:
            event = InboundEvent.from_json(fields[b"event"])
        except Exception:
            log.error("inbox %s: entry %s is unreadable; moved to %s", self.channel, entry_id, self.dead_stream)
            self._in_flight.add(entry_id)
            task = asyncio.create_task(self._dead_letter(entry_id, fields))
            task.add_done_callback(lambda _: self._finish(entry_id))
            return
        key = event.order_key
        previous = self._tails.get(key)
        self._in_flight.add(entry_id)
        task = asyncio.create_task(self._process_after(previous, entry_id, event))
        self._tails[key] = task

        def done(finished: asyncio.Task) -> None:
            if self._tails.get(key) is finished:
                del self._tails[key]
            self._finish(entry_id)

        task.add_done_callback(done)

    def _finish(self, entry_id: str) -> None:
        self._in_flight.discard(entry_id)
        self._slots.release()

    async def _process_after(self, previous: Optional[asyncio.Task], entry_id: str, event: InboundEvent) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # same customer: strictly after the earlier event
        while not self.is_ready():
            await asyncio.sleep(0.2)
        try:
            await self.handler(event)
        except Exception as error:
            await self._handler_failed(entry_id, event, error)
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            pipe.hdel(self.attempts_key, entry_id)
            await pipe.execute()

    async def _handler_failed(self, entry_id: str, event: InboundEvent, error: Exception) -> None:
        attempts = await self.redis.hincrby(self.attempts_key, entry_id, 1)
        log.error(
            "inbox %s: %s event %s failed (attempt %d/%d): %s",
            self.channel, event.kind, event.event_id, attempts, self.max_attempts, type(error).__name__,
            exc_info=error,
        )
        if attempts >= self.max_attempts:
            await self._dead_letter(entry_id, {b"event": event.to_json()})
        # Otherwise it stays pending; XAUTOCLAIM retries it after `claim_idle_ms`.

    async def _dead_letter(self, entry_id: str, fields: dict) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            # Capped: a flood of poison messages must not fill Redis (the oldest go first).
            pipe.xadd(self.dead_stream, {**fields, "entry_id": entry_id}, maxlen=self.dead_letter_maxlen,
                      approximate=True)
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            pipe.hdel(self.attempts_key, entry_id)
            await pipe.execute()


def _id(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
