"""Everything a store holds, as bytes, to search for what must not be there."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from redis.asyncio import Redis


async def everything_in_redis(redis: Redis) -> bytes:
    """Every key and value of every type in the database (streams' fields too)."""
    dump = b""
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        if kind == b"string":
            values = [await redis.get(key)]
        elif kind == b"list":
            values = await redis.lrange(key, 0, -1)
        elif kind == b"hash":
            values = [b for pair in (await redis.hgetall(key)).items() for b in pair]
        elif kind == b"set":
            values = list(await redis.smembers(key))
        elif kind == b"zset":
            values = await redis.zrange(key, 0, -1)
        elif kind == b"stream":
            values = [b for _, fields in await redis.xrange(key) for pair in fields.items() for b in pair]
        else:
            values = []
        dump += key + b"\n" + b"\n".join(v if isinstance(v, bytes) else str(v).encode() for v in values) + b"\n"
    return dump


def everything_in_sqlite(path: Path) -> str:
    """The whole database as SQL statements."""
    with sqlite3.connect(path) as connection:
        return "\n".join(connection.iterdump())
