"""The Redis identity index: a cache of the CRM that answers "who is this?" in one round trip.

Keys (namespace `tl:id:`):
  tl:id:key:<identifier key>  → customer id that owns the verified identifier
  tl:id:alias:<customer id>   → the customer it was merged into
  tl:id:route:<customer id>   → hash: `ch:<channel>` = exact provider address last written
                                from, `ts:<channel>` = when (ms), `latest` = last channel used

The CRM is the source of truth; everything here can be rebuilt from it (`RebuildIndex`).
The resolve script derives alias and route keys from the customer id it finds, so it needs a
single Redis (or Sentinel), not Redis Cluster.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

import redis.asyncio as aioredis

from threadline.conversation.redis_connection import connect

PREFIX = "tl:id:"
MAX_ALIAS_HOPS = 16

# KEYS[1..n]: index keys of the identifiers one message proves (address first).
# ARGV: prefix, channel, exact address, max alias hops.
# Returns false when the address is unknown, else {customer id, route changed 0/1,
# then per extra identifier 1 when it is not indexed yet}.
_RESOLVE = """
local id = redis.call('GET', KEYS[1])
if not id then return false end
for _ = 1, tonumber(ARGV[4]) do
  local target = redis.call('GET', ARGV[1] .. 'alias:' .. id)
  if not target then break end
  id = target
end
local route = ARGV[1] .. 'route:' .. id
local previous = redis.call('HMGET', route, 'ch:' .. ARGV[2], 'latest')
local now = redis.call('TIME')
local ms = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
redis.call('HSET', route, 'ch:' .. ARGV[2], ARGV[3], 'ts:' .. ARGV[2], ms, 'latest', ARGV[2])
local changed = 0
if previous[1] ~= ARGV[3] or previous[2] ~= ARGV[2] then changed = 1 end
local result = {id, changed}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then result[#result + 1] = 1 else result[#result + 1] = 0 end
end
return result
"""

# KEYS[1]: route hash. ARGV: channel, exact address. Record a route without a lookup.
_TOUCH = """
local now = redis.call('TIME')
local ms = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
redis.call('HSET', KEYS[1], 'ch:' .. ARGV[1], ARGV[2], 'ts:' .. ARGV[1], ms, 'latest', ARGV[1])
return 1
"""


@dataclass(frozen=True)
class IndexHit:
    customer_id: str
    route_changed: bool
    unindexed_extras: tuple  # positions (1-based among extras) of identifiers not indexed yet


@dataclass(frozen=True)
class Route:
    channel: str
    address: str
    seen_ms: int


class IdentityIndex:
    def __init__(self, client: aioredis.Redis, prefix: str = PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._resolve = client.register_script(_RESOLVE)
        self._touch = client.register_script(_TOUCH)

    @classmethod
    def from_url(cls, url: str) -> "IdentityIndex":
        return cls(connect(url, decode_responses=True))

    def key_for(self, identifier_key: str) -> str:
        return f"{self.prefix}key:{identifier_key}"

    def alias_key(self, customer_id: str) -> str:
        return f"{self.prefix}alias:{customer_id}"

    def route_key(self, customer_id: str) -> str:
        return f"{self.prefix}route:{customer_id}"

    async def lookup_and_touch(self, identifier_keys: list, channel: str, address: str) -> Optional[IndexHit]:
        """Who owns identifier_keys[0] (following aliases); records the inbound route."""
        keys = [self.key_for(k) for k in identifier_keys]
        result = await self._resolve(keys=keys, args=[self.prefix, channel, address, MAX_ALIAS_HOPS])
        if not result:
            return None
        missing = tuple(i for i, flag in enumerate(result[2:], start=1) if int(flag))
        return IndexHit(result[0], bool(int(result[1])), missing)

    async def touch(self, customer_id: str, channel: str, address: str) -> None:
        await self._touch(keys=[self.route_key(customer_id)], args=[channel, address])

    async def forget_route(self, customer_id: str, channel: str) -> None:
        """Make the next message on `channel` count as a route change (CRM write retried)."""
        await self.client.hdel(self.route_key(customer_id), f"ch:{channel}")

    async def canonical(self, customer_id: str) -> str:
        for _ in range(MAX_ALIAS_HOPS):
            target = await self.client.get(self.alias_key(customer_id))
            if not target:
                break
            customer_id = target
        return customer_id

    async def assign(self, owners: Mapping[str, str]) -> None:
        """identifier key → customer id, overwriting: the caller read it from the CRM."""
        if owners:
            await self.client.mset({self.key_for(k): v for k, v in owners.items()})

    async def unassign(self, identifier_keys: Iterable[str]) -> None:
        keys = [self.key_for(k) for k in identifier_keys]
        if keys:
            await self.client.delete(*keys)

    async def set_alias(self, alias_id: str, customer_id: str) -> None:
        await self.client.set(self.alias_key(alias_id), customer_id)

    async def drop_alias(self, alias_id: str) -> None:
        await self.client.delete(self.alias_key(alias_id))

    async def routes(self, customer_id: str) -> tuple[dict, Optional[str]]:
        """({channel: address}, latest channel) as recorded in Redis."""
        raw = await self.client.hgetall(self.route_key(customer_id))
        channels = {f[3:]: v for f, v in raw.items() if f.startswith("ch:")}
        return channels, raw.get("latest")

    async def replace_routes(self, customer_id: str, routes: list) -> None:
        """Set the route hash from CRM routes (`Route`s); the newest is `latest`."""
        key = self.route_key(customer_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if routes:
                mapping = {}
                for route in routes:
                    mapping[f"ch:{route.channel}"] = route.address
                    mapping[f"ts:{route.channel}"] = str(route.seen_ms)
                mapping["latest"] = max(routes, key=lambda r: r.seen_ms).channel
                pipe.hset(key, mapping=mapping)
            await pipe.execute()

    async def clear(self) -> int:
        """Delete every identity key (for a rebuild); returns how many were deleted."""
        deleted = 0
        async for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            deleted += await self.client.unlink(key)
        return deleted

    async def close(self) -> None:
        await self.client.close(close_connection_pool=True)
