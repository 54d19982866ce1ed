"""Opening and checking the Redis connection shared by the tracker and lock stores.

Both stores are named in endpoints.yml with `url: ${REDIS_URL}`. A URL that is missing,
malformed or points at a Redis that does not answer must stop the server at start-up,
not turn into a silent in-memory fallback later.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any, Optional
from urllib.parse import urlparse

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0


class StorageUnavailable(RuntimeError):
    """Redis cannot be reached or cannot run the stores' scripts."""


def redacted(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    parts = urlparse(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def validate_url(url: Optional[str], owner: str) -> str:
    """Raise a clear error unless `url` looks like a Redis URL."""
    if not url or not isinstance(url, str):
        raise StorageUnavailable(
            f"{owner}: no Redis URL configured (set url: ${{REDIS_URL}} in endpoints.yml)"
        )
    scheme = urlparse(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise StorageUnavailable(f"{owner}: '{redacted(url)}' is not a redis:// URL")
    return url


def _new_client(url: str) -> aioredis.Redis:
    # Timeouts, so a dead Redis raises instead of hanging a turn.
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=30,
    )


class PerLoopRedis:
    """An asyncio Redis client that works from several event loops: one real client per loop.

    Rasa builds the tracker and lock stores once; a process may use them from more than one
    running loop (e.g. a loop on another thread). An asyncio connection belongs to the loop
    that opened it, so one shared pool fails with "attached to a different loop". Commands,
    pipelines and scripts go to the calling loop's client.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = (
            weakref.WeakKeyDictionary()
        )
        # Outside any loop only loop-free attributes are read (the encoder, for scripts).
        self._outside_loops = _new_client(url)

    def current(self) -> aioredis.Redis:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._outside_loops
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = _new_client(self.url)
            return client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.current(), name)

    def register_script(self, script: str) -> AsyncScript:
        # Bound to this object, not to one loop's client: each call uses the caller's loop.
        return AsyncScript(self, script)

    async def close(self, close_connection_pool: bool = True) -> None:
        """Close every loop's client, each on its own loop (a stopped loop's are dropped)."""
        here = asyncio.get_running_loop()
        with self._lock:
            clients = list(self._clients.items())
            self._clients.clear()
        for loop, client in clients:
            closing = client.close(close_connection_pool=close_connection_pool)
            if loop is here:
                await closing
            elif loop.is_running():
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(closing, loop))
            else:
                closing.close()  # never awaited: its sockets went with their loop


def client_for(url: str) -> PerLoopRedis:
    """The client the stores use: safe on every loop of the process, with timeouts."""
    return PerLoopRedis(url)


async def ping_with_scripts(url: str, owner: str) -> None:
    """Connect, ping and run a trivial Lua script (the stores depend on scripting)."""
    client = _new_client(url)
    try:
        await client.ping()
        if await client.eval("return 1", 0) != 1:
            raise StorageUnavailable(f"{owner}: Redis at {redacted(url)} cannot run Lua scripts")
    except RedisError as error:
        raise StorageUnavailable(f"{owner}: Redis at {redacted(url)} is unreachable: {error}") from error
    finally:
        await client.close(close_connection_pool=True)


def check_url_sync(url: Optional[str], owner: str) -> None:
    """`ping_with_scripts` for callers outside an event loop (start-up checks, CLI)."""
    asyncio.run(ping_with_scripts(validate_url(url, owner), owner))
