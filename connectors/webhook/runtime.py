"""Resources a channel opens where it runs (the Rasa server's webhook edge, or the inbox
worker's consumer) and closes when it stops; the consumer name; the retired mode switch."""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import aiohttp
from redis.asyncio import Redis

from connectors.webhook.inbox import AckPolicy
from connectors.webhook.records import ChannelRecords
from threadline.conversation.event_log import CustomerEventLog
from threadline.conversation.redis_connection import connect

log = logging.getLogger(__name__)

ResolverFactory = Callable[[], Any]


def default_resolver_factory() -> Any:
    # Imported late: the identity package is its own module with its own tests.
    try:
        from threadline.identity.resolver import IdentityResolver
    except ImportError as error:
        raise RuntimeError(f"webhook channels need threadline.identity.resolver: {error}") from error
    return IdentityResolver.from_env()


def default_consumer_name() -> str:
    """Stable across restarts of the same worker, so the lanes its previous run held are
    taken again at once instead of after their lease lapsed. Unique per live worker."""
    return os.environ.get("THREADLINE_INBOX_CONSUMER") or (
        f"{socket.gethostname()}:{os.environ.get('RASA_PORT', '5005')}"
    )


_warned_about_worker_mode = False


def warn_if_worker_mode_set() -> None:
    """`THREADLINE_INBOX_WORKER` chose in-process or external consumption; only the inbox
    worker consumes now. Said once per process, so an old setting is not silently trusted."""
    global _warned_about_worker_mode
    if os.environ.get("THREADLINE_INBOX_WORKER", "").strip() and not _warned_about_worker_mode:
        _warned_about_worker_mode = True
        log.warning("THREADLINE_INBOX_WORKER is set but ignored: the Rasa server only accepts channel "
                    "messages and the inbox worker (python -m threadline.inbox_worker) answers them")


class CustomerNotingResolver:
    """The identity resolver, telling `note` every customer id it resolves (used by the inbox
    consumer so a dead letter can name the customer). Everything else goes to the resolver."""

    def __init__(self, resolver: Any, note: Callable[[str], None]) -> None:
        self._resolver = resolver
        self._note = note

    async def resolve(self, *args: Any, **kwargs: Any) -> str:
        customer_id = await self._resolver.resolve(*args, **kwargs)
        self._note(customer_id)
        return customer_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolver, name)


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
    _log: Optional[CustomerEventLog] = field(default=None, repr=False)

    @classmethod
    def open(cls, resolver_factory: ResolverFactory, url: Optional[str] = None) -> "ChannelRuntime":
        redis = connect(url or redis_url())
        ack = AckPolicy.from_env()
        return cls(redis=redis, records=ChannelRecords(redis, ack.replicas, ack.timeout_ms),
                   resolver=resolver_factory())

    @property
    def conversation_log(self) -> CustomerEventLog:
        """The customers' event logs on this runtime's Redis (scripts registered once)."""
        if self._log is None:
            self._log = CustomerEventLog(self.redis)
        return self._log

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
