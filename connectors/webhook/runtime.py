"""Resources a channel opens when the Rasa server starts and closes when it stops."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import aiohttp
from redis.asyncio import Redis

from connectors.webhook.records import ChannelRecords

ResolverFactory = Callable[[], Any]


def default_resolver_factory() -> Any:
    # Imported late: the identity package is its own module with its own tests.
    try:
        from threadline.identity.resolver import IdentityResolver
    except ImportError as error:
        raise RuntimeError(f"webhook channels need threadline.identity.resolver: {error}") from error
    return IdentityResolver.from_env()


def default_consumer_name() -> str:
    """Stable across restarts of the same server, so its pending entries are replayed at once."""
    return os.environ.get("THREADLINE_INBOX_CONSUMER") or (
        f"{socket.gethostname()}:{os.environ.get('RASA_PORT', '5005')}"
    )


INBOX_WORKER_MODES = ("in-process", "external")


def inbox_worker_mode() -> str:
    """Where the bot turns of the webhook channels run (`THREADLINE_INBOX_WORKER`).

    `external`: in `python -m threadline.inbox_worker`, a process of its own, so the Rasa
    server only acknowledges webhooks and a busy bot never holds the webhooks' GIL (`make run`).
    `in-process` (default when unset): on a thread of the Rasa server, so a bare `rasa run`
    still answers its messages.
    """
    mode = os.environ.get("THREADLINE_INBOX_WORKER", "").strip().lower() or "in-process"
    if mode not in INBOX_WORKER_MODES:
        raise RuntimeError(f"THREADLINE_INBOX_WORKER must be one of {', '.join(INBOX_WORKER_MODES)}, got {mode!r}")
    return mode


def consumes_in_process() -> bool:
    return inbox_worker_mode() == "in-process"


def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        raise RuntimeError("REDIS_URL is not set; the webhook channels need Redis (make run sets it)")
    return url


@dataclass
class ChannelRuntime:
    redis: Redis
    records: ChannelRecords
    resolver: Any
    _session: Optional[aiohttp.ClientSession] = field(default=None, repr=False)

    @classmethod
    def open(cls, resolver_factory: ResolverFactory, url: Optional[str] = None) -> "ChannelRuntime":
        redis = Redis.from_url(url or redis_url())
        return cls(redis=redis, records=ChannelRecords(redis), resolver=resolver_factory())

    def session(self) -> aiohttp.ClientSession:
        """One HTTP connection pool per channel, created inside the running loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        close = getattr(self.resolver, "close", None)
        if close is not None:
            await close()
        await self.redis.close()
