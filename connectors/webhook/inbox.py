"""Durable inbox: one lane per customer in Redis, taken by a lease, drained in order.

The webhook calls `Inbox.accept()`: one script per event marks the provider's event id as
seen, appends the event to its lane (the event's `order_key`: one sender on one channel),
records the lane as having work and wakes idle workers, so an event is either stored once or
not at all, whatever the number of (concurrent) deliveries. A delivery is one round trip.

`InboxConsumer.run()` (in `python -m threadline.inbox_worker`) takes due lanes with a lease,
drains each head first (handler, then pop exactly that head) and renews its leases by a
heartbeat while turns run, so one customer's messages run one at a time, in accepted order,
whichever worker takes them, and a live worker's turn is never taken over however long it
runs. A lane is released only when it is empty, in the same script that pops its last event,
so an event accepted meanwhile is never stranded. A dead worker's leases lapse; any worker
takes those lanes at its next sweep. A failing event parks its lane (retried with exponential
backoff) and after `max_attempts` goes to the dead letter with its reason; the lane goes on.

Keys for channel <ch>, written only by this module's scripts (times are Redis server time, ms):
- `tl:dedupe:<ch>:<event id>`: the provider's event id was accepted (TTL: retry window).
- `tl:inbox:<ch>:lane:<order key>`: list, the lane's events, oldest first.
- `tl:inbox:<ch>:lanes`: sorted set of the lanes with events; the score is when a worker may
  take the lane next: its accept time when free, its lease's expiry while taken, its retry
  time while parked.
- `tl:inbox:<ch>:owners`: hash, lane -> lease token of the worker draining it.
- `tl:inbox:<ch>:attempts`: hash, lane -> failed attempts of the lane's head.
- `tl:inbox:<ch>:wake`: capped stream, one entry per accepted event: wakes idle workers.
- `tl:inbox:<ch>:dead`: capped stream of dead letters (channel, order key, customer id if it
  was resolved, reason, attempts, time, and the event itself so it can be replayed).
- `tl:inbox:dead-channels`: set of the channels that ever dead-lettered (for readers).

Replication (`THREADLINE_ACK_REPLICAS=N`, see docs/deploy.md): with asynchronous replication
an accepted event can vanish in a failover after the webhook answered 200, and the provider
never delivers it again. With N > 0 the accept ends with Redis `WAIT N` on the same
connection, and raises `NotReplicated` (the webhook answers 503: the provider retries; the
dedupe key makes the retry store nothing twice) unless N replicas hold the writes in time.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import os
import secrets
import traceback
from dataclasses import dataclass
from typing import Awaitable, Callable, Dict, Iterable, List, Optional, Set

from redis.asyncio import Redis
from redis.exceptions import RedisError

from connectors.webhook.events import InboundEvent
from threadline.conversation import failpoints
from threadline.conversation.redis_connection import CONNECT_TIMEOUT_S

log = logging.getLogger(__name__)

DEAD_LETTER_MAXLEN = 10_000  # per channel; enough to look into, small enough to never fill Redis
WAKE_MAXLEN = 1_000  # workers only need the newest entry id
DEAD_CHANNELS_KEY = "tl:inbox:dead-channels"
BUILT_IN_CHANNELS = ("whatsapp", "instagram", "sms", "rcs", "email", "webchat")
DEFAULT_LEASE_MS = 15_000
DEFAULT_MAX_ATTEMPTS = 5
RETRY_BASE_MS = 1_000  # parked lane retries after 1 s, 2 s, 4 s ... capped
RETRY_MAX_MS = 60_000
DEFAULT_ACK_TIMEOUT_MS = 1_000  # how long the webhook waits for replicas before its 503
REASON_MAX_CHARS = 160

_NOW = "local t = redis.call('TIME')\nlocal now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

# KEYS: dedupe, lane, lanes, wake. ARGV: dedupe ttl s, event json, lane name, wake maxlen,
# '1' when the caller will WAIT for replicas.
# Mark seen and append in one step: never "seen but not stored" after a crash. NX keeps the
# score of a lane that is taken or parked. A repeated delivery writes nothing, so the WAIT
# after it would count only this connection's earlier writes, maybe none, and confirm an
# event still missing on the replicas: it sets the dedupe key's expiry again, unchanged, a
# write that makes the WAIT cover everything before it, the first delivery included.
_ACCEPT = _NOW + """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ARGV[5] == '1' and ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'lane', ARGV[3])
return 1
"""

# KEYS: lanes, owners, attempts. ARGV: how many, token, lease ms, lane key prefix.
# Takes up to ARGV[1] due lanes (free, parked and due, or whose lease lapsed). Returns
# {{lane, head, previous owner or '', attempts so far}, ...} and the ms until the next lane
# is due (-1: none).
_CLAIM = _NOW + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local taken = {}
for _, lane in ipairs(due) do
  local head = redis.call('LINDEX', ARGV[4] .. lane, 0)
  if head then
    local previous = redis.call('HGET', KEYS[2], lane) or ''
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), lane)
    redis.call('HSET', KEYS[2], lane, ARGV[2])
    local attempts = redis.call('HGET', KEYS[3], lane) or '0'
    table.insert(taken, {lane, head, previous, attempts})
  else
    redis.call('ZREM', KEYS[1], lane)
    redis.call('HDEL', KEYS[2], lane)
    redis.call('HDEL', KEYS[3], lane)
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if first[2] then wait = math.max(0, tonumber(first[2]) - now) end
return {taken, wait}
"""

# KEYS: lanes, owners. ARGV: token, lease ms, lane... Returns the lanes no longer ours.
_RENEW = _NOW + """
local lost = {}
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[i])
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""

# What follows a popped head (shared by DONE and FAIL): release the lane if it is empty,
# else keep the lease and return the next head.
_NEXT = """
local head = redis.call('LINDEX', KEYS[4], 0)
if not head then
  redis.call('ZREM', KEYS[1], ARGV[3])
  redis.call('HDEL', KEYS[2], ARGV[3])
  return {result, attempts}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
return {result, attempts, head}
"""

# KEYS: lanes, owners, attempts, lane. ARGV: token, head, lane name, lease ms.
# Returns {-1} if the lease is no longer ours, else {1, 0[, next head]}.
_DONE = _NOW + """
if redis.call('HGET', KEYS[2], ARGV[3]) ~= ARGV[1] then return {-1} end
local result, attempts = 1, 0
if redis.call('LINDEX', KEYS[4], 0) == ARGV[2] then redis.call('LPOP', KEYS[4]) end
redis.call('HDEL', KEYS[3], ARGV[3])
""" + _NEXT

# KEYS: lanes, owners, attempts, lane, dead, dead channels. ARGV: token, head, lane name,
# lease ms, max attempts, retry base ms, retry max ms, dead maxlen, channel, customer id,
# reason, 1 = dead-letter at once (unreadable entry).
# Returns {-1} (lease lost), {2, attempts, retry ms} (parked: lease released, retried when
# due) or {3, attempts[, next head]} (dead-lettered, the lane goes on).
_FAIL = _NOW + """
if redis.call('HGET', KEYS[2], ARGV[3]) ~= ARGV[1] then return {-1} end
if redis.call('LINDEX', KEYS[4], 0) ~= ARGV[2] then return {-1} end
local attempts = redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
if ARGV[12] ~= '1' and attempts < tonumber(ARGV[5]) then
  local delay = math.min(tonumber(ARGV[7]), tonumber(ARGV[6]) * 2 ^ (attempts - 1))
  redis.call('ZADD', KEYS[1], now + delay, ARGV[3])
  redis.call('HDEL', KEYS[2], ARGV[3])
  return {2, attempts, delay}
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'event', ARGV[2], 'channel', ARGV[9],
  'order_key', ARGV[3], 'customer_id', ARGV[10], 'reason', ARGV[11], 'attempts', attempts, 'at', now)
redis.call('SADD', KEYS[6], ARGV[9])
redis.call('LPOP', KEYS[4])
redis.call('HDEL', KEYS[3], ARGV[3])
local result = 3
""" + _NEXT

# KEYS: lanes, owners, lane, wake. ARGV: token, lane name, wake maxlen. A stopping worker
# hands its lane back: due at once for any worker.
_RELEASE = _NOW + """
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('LLEN', KEYS[3]) > 0 then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[2])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'lane', ARGV[2])
else
  redis.call('ZREM', KEYS[1], ARGV[2])
end
return 1
"""

# KEYS: legacy stream, lane, lanes, wake. ARGV: entry id, event json, lane name, wake maxlen.
# An entry of the stream inboxes of before the lanes moves to its lane (once: XDEL says who).
_MIGRATE = _NOW + """
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'lane', ARGV[3])
return 1
"""

# KEYS: lanes, owners. ARGV: token prefix ("<consumer name>/"). A restarted worker frees the
# leases its previous run held (it is dead: the name is this worker's own), due at once.
_RELEASE_PREVIOUS = _NOW + """
local owned = redis.call('HGETALL', KEYS[2])
local count = 0
for i = 1, #owned, 2 do
  if string.sub(owned[i + 1], 1, #ARGV[1]) == ARGV[1] then
    redis.call('HDEL', KEYS[2], owned[i])
    redis.call('ZADD', KEYS[1], 'XX', now, owned[i])
    count = count + 1
  end
end
return count
"""


@dataclass(frozen=True)
class Keys:
    channel: str

    @property
    def lanes(self) -> str:
        return f"tl:inbox:{self.channel}:lanes"

    @property
    def owners(self) -> str:
        return f"tl:inbox:{self.channel}:owners"

    @property
    def attempts(self) -> str:
        return f"tl:inbox:{self.channel}:attempts"

    @property
    def wake(self) -> str:
        return f"tl:inbox:{self.channel}:wake"

    @property
    def dead(self) -> str:
        return f"tl:inbox:{self.channel}:dead"

    @property
    def lane_prefix(self) -> str:
        return f"tl:inbox:{self.channel}:lane:"

    def lane(self, order_key: str) -> str:
        return self.lane_prefix + order_key

    def dedupe(self, event_id: str) -> str:
        return f"tl:dedupe:{self.channel}:{event_id}"


def dedupe_key(channel: str, event_id: str) -> str:
    return Keys(channel).dedupe(event_id)


def dead_letter_key(channel: str) -> str:
    return Keys(channel).dead


@dataclass(frozen=True)
class AckPolicy:
    """How many replicas must hold an accepted event before the webhook acknowledges it."""

    replicas: int = 0
    timeout_ms: int = DEFAULT_ACK_TIMEOUT_MS

    @classmethod
    def from_env(cls) -> "AckPolicy":
        raw = os.environ.get("THREADLINE_ACK_REPLICAS", "").strip() or "0"
        if not raw.isdigit():
            raise ValueError(f"THREADLINE_ACK_REPLICAS must be 0 or a positive integer, got {raw!r}")
        timeout_ms = _positive_int("THREADLINE_ACK_TIMEOUT_MS", DEFAULT_ACK_TIMEOUT_MS)
        if timeout_ms >= CONNECT_TIMEOUT_S * 1000:
            # WAIT blocks the connection: past the socket timeout the client gives up first.
            raise ValueError(f"THREADLINE_ACK_TIMEOUT_MS must be below {CONNECT_TIMEOUT_S * 1000:.0f} "
                             f"(the Redis socket timeout), got {timeout_ms}")
        return cls(int(raw), timeout_ms)


class NotReplicated(RuntimeError):
    """The events are on the primary but fewer than the required replicas acknowledged them."""

    def __init__(self, wanted: int, held: int) -> None:
        super().__init__(f"{held} of {wanted} replicas acknowledged the accepted events")
        self.wanted = wanted
        self.held = held


def lease_ms_from_env() -> int:
    return _positive_int("THREADLINE_INBOX_LEASE_MS", DEFAULT_LEASE_MS)


def max_attempts_from_env() -> int:
    return _positive_int("THREADLINE_INBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


async def backlog(redis: Redis, channel: str) -> int:
    """Events stored and not yet handled (nor dead-lettered) on `channel`."""
    keys = Keys(channel)
    lanes = [lane.decode() for lane in await redis.zrange(keys.lanes, 0, -1)]
    if not lanes:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for lane in lanes:
            pipe.llen(keys.lane(lane))
        return sum(await pipe.execute())


class Inbox:
    """The webhook side: store each new event exactly once, in its lane."""

    def __init__(self, redis: Redis, channel: str, dedupe_ttl_s: int, ack: AckPolicy = AckPolicy()) -> None:
        self.redis = redis
        self.keys = Keys(channel)
        self.dedupe_ttl_s = dedupe_ttl_s
        self.ack = ack
        self._accept = redis.register_script(_ACCEPT)

    @property
    def channel(self) -> str:
        return self.keys.channel

    async def replicas_connected(self) -> int:
        """How many replicas the Redis primary has right now (the most WAIT can count)."""
        return int((await self.redis.info("replication")).get("connected_slaves", 0))

    async def accept(self, events: Iterable[InboundEvent]) -> int:
        """Store the events not seen before (one round trip); returns how many were new. Their
        CPFs are masked first, so no lane, dead letter or activity record holds one in clear.
        Raises `NotReplicated` when the ack policy's replicas did not confirm them in time."""
        async with self.redis.pipeline(transaction=False) as pipe:
            count = 0
            for event in events:
                lane = event.order_key
                keys = [self.keys.dedupe(event.event_id), self.keys.lane(lane), self.keys.lanes, self.keys.wake]
                stored = event.with_cpfs_masked().to_json()
                await self._accept(keys=keys, args=[self.dedupe_ttl_s, stored, lane, WAKE_MAXLEN,
                                                    "1" if self.ack.replicas else "0"], client=pipe)
                count += 1
            if not count:
                return 0
            if self.ack.replicas:
                # In the same pipeline, so on the connection that wrote: WAIT counts the
                # replicas that hold this connection's writes.
                pipe.wait(self.ack.replicas, self.ack.timeout_ms)
            results = await pipe.execute()
        if self.ack.replicas:
            held = int(results.pop())
            if held < self.ack.replicas:
                raise NotReplicated(self.ack.replicas, held)
        return sum(1 for stored in results if stored)


Handler = Callable[[InboundEvent], Awaitable[None]]

# The customer id the running handler resolved, for its dead letter (see `note_customer`).
_resolved_customer: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
    "threadline_inbox_customer", default=None)


def note_customer(customer_id: str) -> None:
    """Called on the handler's path once the event's customer is known: a dead letter of this
    event then names the customer, not only the channel address."""
    _resolved_customer.set(customer_id)


def lane_ref(lane: str) -> str:
    """How logs name a lane: the order key holds an address (personal data), this does not."""
    return hashlib.sha256(lane.encode()).hexdigest()[:10]


def failure_reason(error: BaseException, event: Optional[InboundEvent]) -> str:
    """Exception type and a short message, with the event's own words cut out."""
    message = " ".join(str(error).split())
    for words in (event.text, event.payload) if event else ():
        if words and words.strip():
            message = message.replace(words.strip(), "…")
    if len(message) > REASON_MAX_CHARS:
        message = message[:REASON_MAX_CHARS - 1] + "…"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class InboxConsumer:
    """The worker side: handle stored events at least once, one at a time and in accepted
    order per lane, up to `max_in_flight` lanes at once."""

    def __init__(
        self,
        redis: Redis,
        channel: str,
        consumer_name: str,
        handler: Handler,
        *,
        is_ready: Callable[[], bool] = lambda: True,
        lease_ms: int = DEFAULT_LEASE_MS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_base_ms: int = RETRY_BASE_MS,
        retry_max_ms: int = RETRY_MAX_MS,
        max_in_flight: int = 8,
        sweep_ms: Optional[int] = None,
        dead_letter_maxlen: int = DEAD_LETTER_MAXLEN,
    ) -> None:
        self.redis = redis
        self.keys = Keys(channel)
        self.channel = channel
        self.consumer_name = consumer_name
        # Unique per run: a lease of this worker's previous run (same name) is not ours.
        self.token = f"{consumer_name}/{os.getpid()}-{secrets.token_hex(4)}"
        self.handler = handler
        self.is_ready = is_ready
        self.lease_ms = lease_ms
        self.renew_s = lease_ms / 3000  # two renewals may fail before the lease lapses
        # A lapsed lease or a due retry is noticed within this long, even with no wake-up.
        self.sweep_ms = sweep_ms or max(50, min(2_000, lease_ms // 3))
        self.max_attempts = max_attempts
        self.retry_base_ms = retry_base_ms
        self.retry_max_ms = retry_max_ms
        self.max_in_flight = max_in_flight
        self.dead_letter_maxlen = dead_letter_maxlen
        self._scripts = {name: redis.register_script(source) for name, source in (
            ("claim", _CLAIM), ("renew", _RENEW), ("done", _DONE), ("fail", _FAIL),
            ("release", _RELEASE), ("release_previous", _RELEASE_PREVIOUS), ("migrate", _MIGRATE))}
        self._drains: Dict[str, asyncio.Task] = {}
        self._lost: Set[str] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = False

    # --- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        while not self.is_ready() and not self._stopping:
            await asyncio.sleep(0.2)
        await self._release_previous_run()
        await self._migrate_legacy_stream()
        last_wake = await self._newest_wake_id()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not self._stopping:
                try:
                    last_wake = await self._step(last_wake)
                except asyncio.CancelledError:
                    raise
                except (RedisError, OSError) as error:  # Redis hiccup: keep the consumer alive
                    log.warning("inbox %s: %s; retrying in 1 s", self.channel, type(error).__name__)
                    await asyncio.sleep(1)
            # Stopping: turns still running keep their leases until they finish.
            while self._drains:
                await asyncio.wait(list(self._drains.values()))
        finally:
            heartbeat.cancel()

    async def _step(self, last_wake: str) -> str:
        """Take what is due; then wait for a wake-up, a freed slot or the next due lane."""
        free = self.max_in_flight - len(self._drains)
        if free <= 0:
            self._slot_freed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), self.sweep_ms / 1000)
            return last_wake
        taken, wait_ms = await self._scripts["claim"](
            keys=[self.keys.lanes, self.keys.owners, self.keys.attempts],
            args=[free, self.token, self.lease_ms, self.keys.lane_prefix])
        lapsed = 0
        for lane, head, previous, attempts in taken:
            lane = lane.decode()
            if lane in self._drains:
                continue  # ours already (its renewal came late): the running drain goes on
            if previous and previous.decode() != self.token:
                lapsed += 1
            self._drains[lane] = asyncio.create_task(self._drain(lane, head, int(attempts)))
        if lapsed:
            log.warning("inbox %s: took over %d lane(s) whose worker's lease lapsed", self.channel, lapsed)
        if len(taken) == free or self._stopping:
            return last_wake  # there may be more due right now
        block = self.sweep_ms if wait_ms < 0 else max(1, min(int(wait_ms), self.sweep_ms))
        reply = await self.redis.xread({self.keys.wake: last_wake}, count=WAKE_MAXLEN, block=block)
        for _, entries in reply or []:
            if entries:
                last_wake = _text(entries[-1][0])
        return last_wake

    async def stop(self, grace_s: float = 10.0) -> None:
        """Take no more lanes and start no more turns; let running turns finish (each lane is
        then handed back, due at once for another worker). A turn still running after
        `grace_s` keeps its lane until its lease lapses."""
        self._stopping = True
        self._slot_freed.set()
        running = list(self._drains.values())
        if running:
            await asyncio.wait(running, timeout=grace_s)

    # --- one lane ----------------------------------------------------------------------------
    async def _drain(self, lane: str, head: Optional[bytes], attempts: int) -> None:
        try:
            while head is not None:
                if self._stopping or lane in self._lost:
                    await self._release(lane)
                    return
                head = await self._turn(lane, head, attempts)
                attempts = 0
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Redis failed mid-lane: the lease lapses, another worker goes on
            log.error("inbox %s: lane #%s stopped (%s); its lease lapses within %d ms",
                      self.channel, lane_ref(lane), type(error).__name__, self.lease_ms)
        finally:
            self._drains.pop(lane, None)
            self._lost.discard(lane)
            self._slot_freed.set()

    async def _turn(self, lane: str, head: bytes, attempts: int) -> Optional[bytes]:
        """Handle the lane's head; returns the next head while the lane is still ours."""
        try:
            event = InboundEvent.from_json(head)
        except Exception as error:
            log.error("inbox %s: an entry of lane #%s is unreadable (%s); moved to %s",
                      self.channel, lane_ref(lane), type(error).__name__, self.keys.dead)
            reason = f"unreadable entry: {type(error).__name__}"
            return await self._failed(lane, head, None, reason, customer_id=None, at_once=True)
        _resolved_customer.set(None)
        try:
            await self.handler(event)
        except Exception as error:
            reason = failure_reason(error, event)
            # The frames, not `exc_info`: an exception's own message may quote the customer.
            log.error("inbox %s: %s event %s failed (attempt %d/%d): %s\n%s", self.channel, event.kind,
                      event.event_id, attempts + 1, self.max_attempts, reason,
                      "".join(traceback.format_tb(error.__traceback__)).rstrip())
            return await self._failed(lane, head, event, reason, customer_id=_resolved_customer.get(),
                                      at_once=False)
        failpoints.reach(failpoints.BEFORE_INBOX_ACK)
        result = await self._scripts["done"](
            keys=[self.keys.lanes, self.keys.owners, self.keys.attempts, self.keys.lane(lane)],
            args=[self.token, head, lane, self.lease_ms])
        if result[0] == -1:
            self._lease_lost(lane)
            return None
        return result[2] if len(result) > 2 else None

    async def _failed(self, lane: str, head: bytes, event: Optional[InboundEvent], reason: str, *,
                      customer_id: Optional[str], at_once: bool) -> Optional[bytes]:
        result = await self._scripts["fail"](
            keys=[self.keys.lanes, self.keys.owners, self.keys.attempts, self.keys.lane(lane),
                  self.keys.dead, DEAD_CHANNELS_KEY],
            args=[self.token, head, lane, self.lease_ms, self.max_attempts, self.retry_base_ms,
                  self.retry_max_ms, self.dead_letter_maxlen, self.channel, customer_id or "", reason,
                  "1" if at_once else "0"])
        if result[0] == -1:
            self._lease_lost(lane)
            return None
        if result[0] == 2:
            log.info("inbox %s: lane #%s parked; retry %d in %d ms", self.channel, lane_ref(lane),
                     int(result[1]) + 1, int(result[2]))
            return None
        log.error("inbox %s: %s moved to %s after %d attempt(s); lane #%s goes on", self.channel,
                  f"event {event.event_id}" if event else "entry", self.keys.dead, int(result[1]), lane_ref(lane))
        return result[2] if len(result) > 2 else None

    def _lease_lost(self, lane: str) -> None:
        log.error("inbox %s: the lease on lane #%s was taken over (no heartbeat for %d ms); "
                  "this worker leaves the lane to its new owner", self.channel, lane_ref(lane), self.lease_ms)

    async def _release(self, lane: str) -> None:
        await self._scripts["release"](
            keys=[self.keys.lanes, self.keys.owners, self.keys.lane(lane), self.keys.wake],
            args=[self.token, lane, WAKE_MAXLEN])

    # --- leases --------------------------------------------------------------------------------
    async def _heartbeat(self) -> None:
        """Renew every lane this worker drains, every third of the lease, in one script."""
        while True:
            await asyncio.sleep(self.renew_s)
            lanes = list(self._drains)
            if not lanes:
                continue
            try:
                lost = await self._scripts["renew"](keys=[self.keys.lanes, self.keys.owners],
                                                    args=[self.token, self.lease_ms, *lanes])
            except (RedisError, OSError) as error:
                log.warning("inbox %s: renewing %d lease(s) failed (%s)", self.channel, len(lanes),
                            type(error).__name__)
                continue
            for lane in lost:
                lane = _text(lane)
                if lane in self._drains:
                    self._lost.add(lane)
                    self._lease_lost(lane)

    async def _release_previous_run(self) -> None:
        released = await self._scripts["release_previous"](keys=[self.keys.lanes, self.keys.owners],
                                                            args=[f"{self.consumer_name}/"])
        if released:
            log.info("inbox %s: replaying %d lane(s) left by this worker's previous run", self.channel, released)

    async def _migrate_legacy_stream(self) -> None:
        """Events left in `tl:inbox:<ch>` (the stream inbox before lanes) join their lanes."""
        legacy, moved = f"tl:inbox:{self.channel}", 0
        if await self.redis.type(legacy) != b"stream":
            return
        while entries := await self.redis.xrange(legacy, count=100):
            for entry_id, fields in entries:
                raw = fields.get(b"event", b"")
                try:
                    lane = InboundEvent.from_json(raw).order_key
                except Exception:
                    lane = f"{self.channel}:unreadable"  # dead-lettered with its reason when drained
                moved += await self._scripts["migrate"](
                    keys=[legacy, self.keys.lane(lane), self.keys.lanes, self.keys.wake],
                    args=[_text(entry_id), raw, lane, WAKE_MAXLEN])
        if moved:
            log.info("inbox %s: moved %d event(s) of the stream inbox into lanes", self.channel, moved)

    async def _newest_wake_id(self) -> str:
        newest = await self.redis.xrevrange(self.keys.wake, count=1)
        return _text(newest[0][0]) if newest else "0-0"


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter as the console and `bin/threadline info` show it: never the message."""
    channel: str
    entry_id: str
    order_key: str
    customer_id: Optional[str]
    reason: str
    attempts: int
    at_ms: Optional[int]

    @property
    def address(self) -> str:
        return self.order_key.partition(":")[2]


async def dead_letter_channels(redis: Redis) -> List[str]:
    recorded = {_text(name) for name in await redis.smembers(DEAD_CHANNELS_KEY)}
    return sorted(recorded.union(BUILT_IN_CHANNELS))


async def dead_letter_counts(redis: Redis) -> Dict[str, int]:
    """Dead letters per channel (channels with none left out)."""
    channels = await dead_letter_channels(redis)
    async with redis.pipeline(transaction=False) as pipe:
        for channel in channels:
            pipe.xlen(dead_letter_key(channel))
        counts = await pipe.execute()
    return {channel: count for channel, count in zip(channels, counts) if count}


async def recent_dead_letters(redis: Redis, limit: int = 50) -> List[DeadLetter]:
    """The newest dead letters of every channel, newest first."""
    letters: List[DeadLetter] = []
    for channel in await dead_letter_channels(redis):
        for entry_id, fields in await redis.xrevrange(dead_letter_key(channel), count=limit):
            letters.append(_dead_letter(channel, _text(entry_id), fields))
    letters.sort(key=lambda letter: _entry_ms(letter.entry_id), reverse=True)
    return letters[:limit]


def _dead_letter(channel: str, entry_id: str, fields: Dict[bytes, bytes]) -> DeadLetter:
    def field(name: str) -> str:
        return _text(fields.get(name.encode(), b""))

    at = field("at")
    return DeadLetter(channel=channel, entry_id=entry_id, order_key=field("order_key"),
                      customer_id=field("customer_id") or None, reason=field("reason") or "unknown",
                      attempts=int(field("attempts") or 0), at_ms=int(at) if at.isdigit() else _entry_ms(entry_id))


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0] or 0)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
