"""The one place that opens Redis connections: every client (tracker, locks, inbox, identity,
console, workers, email, CLI) gets its client here, from the same URL forms and options.

URL forms (REDIS_URL, or the store's `url:` in endpoints.yml):
- `redis://[:password@]host:port/db`, `rediss://...` (TLS), `unix:///path/to/redis.sock?db=N`
- `redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db][?sentinel_password=...]`:
  the sentinels are asked for the service's primary; after a failover the clients find the
  new one. `password` is the primary's and replicas'; `sentinel_password` the sentinels' own
  (`requirepass` on the sentinels), when they have one.

Every client has socket timeouts (a dead Redis raises instead of hanging a turn), retries a
command with exponential backoff on connection errors and timeouts (a restart or a failover
is ridden through instead of failing the turn at once), reconnects when a demoted primary
answers READONLY (Sentinel), and checks idle connections before reuse.

A URL that is missing, malformed or points at a Redis that does not answer must stop the
server at start-up, not turn into a silent in-memory fallback later.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlparse

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelPool
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 30
# 0.1 s, 0.2 s ... capped at 2 s: about 6 s of retrying, enough for a restart or a
# Sentinel failover with a short down-after, short enough that a webhook still answers.
RETRIES = 6
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 2.0
PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEME = "redis+sentinel"
# Who a store's URL error names: the setting in endpoints.yml and the variable it holds.
STORE_URL_SETTING = "{} (url: in endpoints.yml, REDIS_URL)"
URL_FORMS = ("redis://, rediss://, unix:// or "
             "redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db][?sentinel_password=...]")


class StorageUnavailable(RuntimeError):
    """Redis cannot be reached or cannot run the stores' scripts."""


class BadRedisUrl(StorageUnavailable, ValueError):
    """A Redis URL that none of the accepted forms matches; the message names where it came from."""


@dataclass(frozen=True)
class SentinelAddress:
    """A parsed `redis+sentinel://` URL."""

    sentinels: Tuple[Tuple[str, int], ...]
    service_name: str
    db: int
    password: Optional[str]
    sentinel_password: Optional[str] = None


def redacted(url: str) -> str:
    """The URL without its passwords, for logs and error messages."""
    url = re.sub(r"(sentinel_password=)[^&]*", r"\1***", url)
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if not sep or "@" not in netloc:
        return url
    credentials, _, hosts = netloc.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{hosts}{slash}{path}"


def parse_sentinel_url(url: str, variable: str = "REDIS_URL") -> SentinelAddress:
    """`redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]`."""
    def bad(why: str) -> BadRedisUrl:
        return BadRedisUrl(f"{variable}: '{redacted(url)}' is not a valid Sentinel URL ({why}); "
                           f"expected {URL_FORMS}")

    rest = url[len(SENTINEL_SCHEME) + 3:]
    netloc, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    options = parse_qs(query, keep_blank_values=True)
    if set(options) - {"sentinel_password"}:
        raise bad("the only option is sentinel_password")
    sentinel_password = unquote(options["sentinel_password"][-1]) if options.get("sentinel_password") else None
    password: Optional[str] = None
    if "@" in netloc:
        credentials, _, netloc = netloc.rpartition("@")
        password = unquote(credentials.partition(":")[2]) or None
    sentinels = []
    for node in netloc.split(","):
        host, colon, port = node.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise bad("each sentinel is host:port")
        sentinels.append((host.strip("[]"), int(port)))
    parts = [part for part in path.split("/") if part]
    if not parts or len(parts) > 2:
        raise bad("the path is /service_name or /service_name/db")
    if len(parts) == 2 and not parts[1].isdigit():
        raise bad("the database is a number")
    return SentinelAddress(tuple(sentinels), parts[0], int(parts[1]) if len(parts) == 2 else 0, password,
                           sentinel_password)


def validate_url(url: Optional[str], owner: str) -> str:
    """Raise a clear error naming `owner` (the variable or setting) unless `url` is a Redis URL."""
    if not url or not isinstance(url, str):
        raise BadRedisUrl(
            f"{owner}: no Redis URL configured (set url: ${{REDIS_URL}} in endpoints.yml)"
        )
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == SENTINEL_SCHEME:
        parse_sentinel_url(url, owner)
    elif scheme not in PLAIN_SCHEMES:
        raise BadRedisUrl(f"{owner}: '{redacted(url)}' is not a Redis URL; expected {URL_FORMS}")
    else:
        try:
            urlparse(url).port  # a port that is not a number raises here, not at first use
        except ValueError as error:
            raise BadRedisUrl(f"{owner}: '{redacted(url)}' has an invalid port; expected {URL_FORMS}") from error
    return url


def _options(timeout_s: float, retry: Any, decode_responses: bool) -> Dict[str, Any]:
    return dict(
        socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
        retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=HEALTH_CHECK_INTERVAL_S, decode_responses=decode_responses,
    )


def _sentinel_options(address: SentinelAddress, timeout_s: float) -> Dict[str, Any]:
    options: Dict[str, Any] = {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s}
    if address.sentinel_password:
        options["password"] = address.sentinel_password
    return options


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S)


class _ClosingSentinelPool(AsyncSentinelPool):
    """Closes the sentinels' own connections with the pool, so a closed client leaks none."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        for sentinel in self.sentinel_manager.sentinels:
            await sentinel.connection_pool.disconnect()


def connect(url: Optional[str], *, variable: str = "REDIS_URL", decode_responses: bool = False,
            timeout_s: float = CONNECT_TIMEOUT_S, retries: int = RETRIES) -> aioredis.Redis:
    """An asyncio client for `url` (any accepted form), with timeouts, retries and health checks.

    A connection belongs to the loop that opened it: a client used from several loops is a
    `PerLoopRedis` (`client_for`)."""
    validate_url(url, variable)
    options = _options(timeout_s, AsyncRetry(_backoff(), retries), decode_responses)
    if url.lower().startswith(SENTINEL_SCHEME + "://"):
        address = parse_sentinel_url(url, variable)
        sentinel = AsyncSentinel(
            list(address.sentinels),
            sentinel_kwargs=_sentinel_options(address, timeout_s),
        )
        return sentinel.master_for(address.service_name, connection_pool_class=_ClosingSentinelPool,
                                   db=address.db, password=address.password, **options)
    return aioredis.Redis.from_url(url, **options)


def connect_sync(url: Optional[str], *, variable: str = "REDIS_URL", decode_responses: bool = False,
                 timeout_s: float = CONNECT_TIMEOUT_S, retries: int = RETRIES) -> redis.Redis:
    """`connect` for code outside an event loop (the launcher, CLI checks, tools)."""
    validate_url(url, variable)
    options = _options(timeout_s, Retry(_backoff(), retries), decode_responses)
    if url.lower().startswith(SENTINEL_SCHEME + "://"):
        address = parse_sentinel_url(url, variable)
        sentinel = Sentinel(
            list(address.sentinels),
            sentinel_kwargs=_sentinel_options(address, timeout_s),
        )
        return sentinel.master_for(address.service_name, db=address.db, password=address.password, **options)
    return redis.Redis.from_url(url, **options)


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
        self._outside_loops = connect(url)

    def current(self) -> aioredis.Redis:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._outside_loops
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = connect(self.url)
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
    """Connect, ping and run a trivial Lua script (the stores depend on scripting). One retry:
    a Redis that is not there at start-up is reported at once."""
    client = connect(url, variable=owner, retries=1)
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
