"""`WebchatTranscript`: what a web chat customer's widget shows, numbered 1, 2, 3...

One Redis stream per customer (`tl:webchat:log:<customer id>`), entry ids `<n>-1` so that an
entry's number is its stream id: a widget that reconnects says the last number it has and
gets exactly the entries after it (`since`), in order, each once. Both directions are in
it: the customer's own messages (so every tab and a reload show them) and what the bot or an
agent sent. A customer message carries the widget's id for it (`client_id`); appending the
same one twice returns the first number (a widget re-sends what was not acknowledged).

Written by the Rasa server (customer messages, from the socket) and by the inbox worker
(the output channel); read by the sockets, which follow the stream live (`follow`).
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

from redis.asyncio import Redis

PREFIX = "tl:webchat:log:"
TTL_S = 90 * 24 * 3600  # a visitor who comes back within three months finds the history
MAX_ENTRIES = 2000  # what a widget ever shows; older entries stay in the CRM timeline

# KEYS: stream, number counter, client id map. ARGV: entry JSON, client id ("" = none), ttl,
# max entries. Returns the entry's number (the existing one for a known client id).
_APPEND = """
if ARGV[2] ~= '' then
  local known = redis.call('HGET', KEYS[3], ARGV[2])
  if known then return tonumber(known) end
end
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], n .. '-1', 'e', ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], n)
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return n
"""

Entry = Dict[str, Any]


def _keys(customer_id: str) -> List[str]:
    base = PREFIX + customer_id
    return [base, base + ":n", base + ":ids"]


def _decode(raw_id: bytes, fields: Dict[bytes, bytes]) -> Entry:
    entry = json.loads(fields[b"e"])
    entry["seq"] = int(raw_id.split(b"-", 1)[0])
    return entry


class WebchatTranscript:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._append = redis.register_script(_APPEND)

    async def append(self, customer_id: str, entry: Entry, client_id: Optional[str] = None) -> int:
        """Store `entry` ({"from": "customer"|"bot"|"agent", "text", ...}); its number."""
        stored = {**entry, "at": entry.get("at") or time.time()}
        if client_id:
            stored["client_id"] = client_id
        return int(await self._append(keys=_keys(customer_id), args=[
            json.dumps(stored, ensure_ascii=False, separators=(",", ":")), client_id or "", TTL_S, MAX_ENTRIES]))

    async def since(self, customer_id: str, after: int, count: int = MAX_ENTRIES) -> List[Entry]:
        """The entries numbered above `after`, oldest first."""
        rows = await self.redis.xrange(_keys(customer_id)[0], min=f"{max(after, 0) + 1}-0", count=count)
        return [_decode(raw_id, fields) for raw_id, fields in rows]

    async def follow(self, customer_id: str, after: int, block_ms: int) -> List[Entry]:
        """The entries after `after`, waiting up to `block_ms` for the first (on a connection
        that blocks: give each socket its own client)."""
        found = await self.redis.xread({_keys(customer_id)[0]: f"{max(after, 0)}-1"}, block=block_ms)
        return [_decode(raw_id, fields) for _, rows in found or [] for raw_id, fields in rows]

    async def absorb(self, source_id: str, target_id: str) -> int:
        """After `source_id` was merged into `target_id`: the source's entries appended to the
        target's transcript (renumbered, client ids kept so nothing doubles). How many."""
        moved = 0
        for entry in await self.since(source_id, 0):
            entry.pop("seq", None)
            await self.append(target_id, entry, entry.pop("client_id", None))
            moved += 1
        if moved:
            await self.redis.delete(*_keys(source_id))
        return moved


