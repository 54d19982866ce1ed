"""Append-only event history per customer in Redis, with an index of session starts.

Layout for customer `C` (prefix `tl:trk:`):
- `tl:trk:{C}:ev`    list of serialized events, oldest first (never rewritten by a turn)
- `tl:trk:{C}:ss`    list of absolute offsets of `action_session_start` events
- `tl:trk:{C}:base`  absolute offset of `ev[0]` (grows when old sessions are archived)
- `tl:trk:{C}:turns` sorted set: the provider message id of each stored user event, scored by
                     its absolute offset; the newest TURNS_KEPT are kept (`has_turn`: was this
                     inbound message already a turn?). Written by the same script as the events.
- `tl:trk:customers` set of customer ids
- `tl:trk:changes`   stream: one entry per append/rewrite naming the customer (the CRM
                     timeline consumer reads it, and its reconciliation leader reads what
                     changed since its cursor with `changes_after`; capped at ~100k entries:
                     `complete` says when some may be gone, then `customer_batches` scans all)

Offsets are absolute (they count archived events too), so the session index stays valid
after the front of the list is trimmed. Every operation that reads or changes more than
one key is one Lua script: a turn's read is one round trip and a turn's write is atomic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, List, Optional, Sequence, Tuple

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

KEY_PREFIX = "tl:trk:"
# Message ids remembered per customer: far more than a customer writes within the inbox's
# 7-day dedupe window, the longest a provider replays a delivery.
TURNS_KEPT = 10_000

# Returns {absolute offset of the first returned event, events...} for the last session.
_CURRENT_SESSION = """
local base = tonumber(redis.call('GET', KEYS[3]) or '0')
local last = redis.call('LINDEX', KEYS[2], -1)
local first = base
if last then first = math.max(tonumber(last), base) end
local events = redis.call('LRANGE', KEYS[1], first - base, -1)
table.insert(events, 1, first)
return events
"""

# ARGV: customer id, mode, turns kept, n, idx_1..idx_n, m, (pos_1, id_1)..(pos_m, id_m), events...
# mode "tail": append every event. mode "session": the caller sent the whole current session
# as it knows it; skip the events the stored current session already holds (the fallback
# for trackers built outside this store, as Rasa's SQLTrackerStore does).
# idx_k are positions (0-based, within the sent events) of session starts; (pos_j, id_j) are
# the positions and provider message ids of the user events sent.
# Returns {end offset before the append, number of events skipped}.
_APPEND = """
local base = tonumber(redis.call('GET', KEYS[3]) or '0')
local stored_end = base + redis.call('LLEN', KEYS[1])
local n = tonumber(ARGV[4])
local m = tonumber(ARGV[5 + n])
local first_event = 6 + n + 2 * m
local skip = 0
-- A call repeated by the client's retry (its reply was lost) finds its events stored: the
-- last one, which carries a unique event id, is byte for byte the last one sent.
if ARGV[2] == 'tail' and #ARGV >= first_event and redis.call('LINDEX', KEYS[1], -1) == ARGV[#ARGV] then
  return {stored_end - (#ARGV - first_event + 1), 0}
end
if ARGV[2] == 'session' then
  local last = redis.call('LINDEX', KEYS[2], -1)
  local session_first = base
  if last then session_first = math.max(tonumber(last), base) end
  skip = math.min(stored_end - session_first, #ARGV - first_event + 1)
end
for k = 1, n do
  local position = tonumber(ARGV[4 + k])
  if position >= skip then
    redis.call('RPUSH', KEYS[2], stored_end + position - skip)
  end
end
-- Skipped user events are already stored: NX keeps the offset they were first indexed at.
for j = 1, m do
  local at = 5 + n + 2 * j - 1
  redis.call('ZADD', KEYS[6], 'NX', stored_end + tonumber(ARGV[at]) - skip, ARGV[at + 1])
end
if m > 0 then
  local extra = redis.call('ZCARD', KEYS[6]) - tonumber(ARGV[3])
  if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[6], 0, extra - 1) end
end
local from = first_event + skip
while from <= #ARGV do
  local to = math.min(from + 999, #ARGV)
  redis.call('RPUSH', KEYS[1], unpack(ARGV, from, to))
  from = to + 1
end
if #ARGV >= first_event then
  redis.call('SADD', KEYS[4], ARGV[1])
  -- Tell the CRM timeline consumer this customer has new events (same atomic step).
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', 100000, '*', 'customer', ARGV[1])
end
return {stored_end, skip}
"""

# Drop events before absolute offset ARGV[1] if the base is still ARGV[2] (no concurrent trim).
_TRIM = """
local base = tonumber(redis.call('GET', KEYS[3]) or '0')
if base ~= tonumber(ARGV[2]) then return -1 end
local cut = tonumber(ARGV[1])
redis.call('LTRIM', KEYS[1], cut - base, -1)
redis.call('SET', KEYS[3], cut)
while true do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head or tonumber(head) >= cut then break end
  redis.call('LPOP', KEYS[2])
end
return cut - base
"""

# {base, session start offsets..., '|', event count}
_LAYOUT = """
local base = tonumber(redis.call('GET', KEYS[3]) or '0')
local out = {base, redis.call('LLEN', KEYS[1])}
for _, offset in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do table.insert(out, offset) end
return out
"""


@dataclass(frozen=True)
class SessionSlice:
    first_offset: int
    events: List[bytes]

    @property
    def end_offset(self) -> int:
        return self.first_offset + len(self.events)


@dataclass(frozen=True)
class Layout:
    """Where a customer's stored events and sessions are, in absolute offsets."""

    base: int
    length: int
    session_starts: List[int]

    @property
    def end(self) -> int:
        return self.base + self.length

    def session_bounds(self) -> List[tuple]:
        """(first, end) of each stored session; events before the first start count as one."""
        starts = [s for s in self.session_starts if s > self.base]
        firsts = [self.base, *starts]
        return [(first, nxt) for first, nxt in zip(firsts, [*starts, self.end]) if nxt > first]


@dataclass(frozen=True)
class AppendResult:
    previous_end: int
    skipped: int


class CustomerEventLog:
    """The Redis operations on one customer's event history; no Rasa types here."""

    def __init__(self, client: aioredis.Redis, prefix: str = KEY_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._current = client.register_script(_CURRENT_SESSION)
        self._append = client.register_script(_APPEND)
        self._trim = client.register_script(_TRIM)
        self._layout = client.register_script(_LAYOUT)

    def keys_for(self, customer_id: str) -> List[str]:
        tag = f"{self.prefix}{{{customer_id}}}"
        return [f"{tag}:ev", f"{tag}:ss", f"{tag}:base", self.customers_key]

    def turns_key(self, customer_id: str) -> str:
        return f"{self.prefix}{{{customer_id}}}:turns"

    @property
    def customers_key(self) -> str:
        return f"{self.prefix}customers"

    @property
    def changes_key(self) -> str:
        return f"{self.prefix}changes"

    async def current_session(self, customer_id: str) -> Optional[SessionSlice]:
        reply = await self._current(keys=self.keys_for(customer_id)[:3])
        first, events = int(reply[0]), reply[1:]
        return SessionSlice(first, events) if events else None

    async def append(
        self, customer_id: str, events: Sequence[str], session_starts: Sequence[int],
        mode: str = "tail", turns: Sequence[Tuple[int, str]] = (),
    ) -> AppendResult:
        """Append `events`; `turns` are (position in `events`, provider message id) of its
        user events, indexed in the same atomic step (`has_turn`)."""
        flat_turns = [part for position, message_id in turns for part in (position, message_id)]
        args = [customer_id, mode, TURNS_KEPT, len(session_starts), *session_starts,
                len(turns), *flat_turns, *events]
        keys = [*self.keys_for(customer_id), self.changes_key, self.turns_key(customer_id)]
        previous_end, skipped = await self._append(keys=keys, args=args)
        return AppendResult(int(previous_end), int(skipped))

    async def has_turn(self, customer_id: str, message_id: str) -> bool:
        """Whether a stored user event of this customer carries provider message id `message_id`."""
        return await self.client.zscore(self.turns_key(customer_id), message_id) is not None

    async def layout(self, customer_id: str) -> Layout:
        reply = await self._layout(keys=self.keys_for(customer_id)[:3])
        return Layout(int(reply[0]), int(reply[1]), [int(x) for x in reply[2:]])

    async def read(self, customer_id: str, start: int = 0, count: Optional[int] = None) -> List[bytes]:
        """Stored events from position `start` (0 = oldest kept), `count` of them or all."""
        stop = -1 if count is None else start + count - 1
        if count is not None and count <= 0:
            return []
        return await self.client.lrange(self.keys_for(customer_id)[0], start, stop)

    async def everything(self, customer_id: str) -> SessionSlice:
        """All stored events and the absolute offset of the first, read atomically."""
        ev, _, base, _ = self.keys_for(customer_id)
        async with self.client.pipeline(transaction=True) as pipe:
            first, events = await pipe.get(base).lrange(ev, 0, -1).execute()
        return SessionSlice(int(first or 0), events)

    async def read_range(self, customer_id: str, first: int, end: int, base: int) -> List[bytes]:
        """Events with absolute offsets in [first, end), given the current `base`."""
        return await self.client.lrange(self.keys_for(customer_id)[0], first - base, end - base - 1)

    async def replace(
        self, customer_id: str, events: Sequence[str], session_starts: Sequence[int],
        turns: Sequence[Tuple[int, str]] = (),
    ) -> None:
        """Replace the whole stored history and its turn index atomically (MULTI/EXEC)."""
        ev, ss, base, customers = self.keys_for(customer_id)
        turns_key = self.turns_key(customer_id)
        kept = {message_id: position for position, message_id in list(turns)[-TURNS_KEPT:]}
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(ev, ss, base, turns_key)
            if kept:
                pipe.zadd(turns_key, kept)
            for chunk_start in range(0, len(events), 1000):
                pipe.rpush(ev, *events[chunk_start:chunk_start + 1000])
            if session_starts:
                pipe.rpush(ss, *session_starts)
            if events:
                pipe.sadd(customers, customer_id)
            else:
                pipe.srem(customers, customer_id)
            pipe.xadd(self.changes_key, {"customer": customer_id}, maxlen=100000, approximate=True)
            await pipe.execute()

    async def delete(self, customer_id: str) -> None:
        ev, ss, base, customers = self.keys_for(customer_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(ev, ss, base, self.turns_key(customer_id))
            pipe.srem(customers, customer_id)
            await pipe.execute()

    async def trim_before(self, customer_id: str, cut: int, expected_base: int) -> int:
        """Drop events before absolute offset `cut`; -1 if someone else trimmed meanwhile."""
        return int(await self._trim(keys=self.keys_for(customer_id)[:3], args=[cut, expected_base]))

    async def customers(self) -> List[str]:
        members = await self.client.smembers(self.customers_key)
        return sorted(_text(m) for m in members)

    async def customer_batches(self, count: int) -> AsyncIterator[List[str]]:
        """Every customer with stored events, `count` or so at a time (SSCAN: a customer
        added or removed meanwhile may be seen or not; none present throughout is missed)."""
        cursor = 0
        while True:
            cursor, members = await self.client.sscan(self.customers_key, cursor, count=count)
            if members:
                yield [_text(m) for m in members]
            if not int(cursor):
                return

    async def changes_after(self, after: Optional[str], count: int) -> ChangesPage:
        """Up to `count` change notifications after notification id `after` (None: from the
        first kept), the customers they name (each once), and whether some notifications after
        `after` may be missing (`complete` false: trimmed from the capped stream, or no `after`)."""
        try:
            info = await self.client.xinfo_stream(self.changes_key)
        except ResponseError:  # no stream yet: nothing was ever written
            return ChangesPage([], after, after is not None)
        trimmed = _text(info.get("max-deleted-entry-id") or b"0-0")
        newest = _text(info.get("last-generated-id") or b"0-0")
        # Trimmed past `after`, or the stream was deleted and begun again since `after`.
        complete = after is not None and _stream_id(trimmed) <= _stream_id(after) <= _stream_id(newest)
        entries = await self.client.xrange(self.changes_key, min=f"({after}" if after else "-", count=count)
        customers: List[str] = []
        for _, fields in entries:
            customer = fields.get(b"customer") or fields.get("customer")
            if customer is not None and _text(customer) not in customers:
                customers.append(_text(customer))
        return ChangesPage(customers, _text(entries[-1][0]) if entries else after, complete)

    async def last_change(self) -> Optional[str]:
        """The id of the newest change notification, or None when there is none."""
        entries = await self.client.xrevrange(self.changes_key, count=1)
        return _text(entries[0][0]) if entries else None


@dataclass
class ChangesPage:
    customers: List[str]
    last_id: Optional[str]  # where the next page starts (after this id)
    complete: bool  # false: notifications after the asked id may be gone; look at every customer


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_id(entry_id: str) -> Tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)
