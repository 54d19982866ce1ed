"""Who a web chat connection speaks for, and what it may write: shared by the WebSocket
(connectors/webchat/socket.py) and the HTTP fallback (connectors/webchat/fallback.py).

The customer is fixed by the token the widget presents (`identify` for a hello, which may
sign in or issue a visitor token; `from_authorization` for the fallback's and the uploads'
requests, which only name an existing visitor or resume token) and never by a later frame,
so nothing a widget sends can make it read or write another customer's transcript.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from redis.exceptions import RedisError

from connectors.webchat.presence import Presence
from connectors.webchat.protocol import CustomerMessage, Hello
from connectors.webchat.tokens import TokenRefused, user_address
from connectors.webchat.transcript import TTL_S
from connectors.webhook import events as kinds
from connectors.webhook.events import InboundEvent
from threadline.conversation.redis_connection import connect

log = logging.getLogger(__name__)
SIGNED_IN_PREFIX = "tl:webchat:signed-in:"  # visitor addresses whose browser signed in
SIGNED_IN_TTL_S = TTL_S  # as long as the transcript such a visitor token could reach
FOLLOW_BLOCK_MS = 4_000  # below the connection factory's 5 s socket timeout


@dataclass(frozen=True)
class Visitor:
    customer_id: str
    address: str


async def identify(channel: Any, hello: Hello) -> Tuple[Visitor, Dict[str, Any]]:
    """Who the hello speaks for; the welcome frame that tells the widget what to keep."""
    welcome: Dict[str, Any] = {"type": "welcome", "visitor": None, "resume": None, "verified": False,
                               "reset": False}
    visitor_address = channel.visitors.address(hello.visitor) if hello.visitor else None
    if hello.login:
        claims = await channel.site_tokens.verify(hello.login)
        address = claims.address
        customer_id = await channel.sign_in(claims, visitor_address)
        if visitor_address:
            await channel.runtime.redis.set(SIGNED_IN_PREFIX + visitor_address, 1, ex=SIGNED_IN_TTL_S)
        welcome.update(resume=channel.resume_tokens.issue(claims.sub), verified=True, reset=True)
        log.info("webchat: connection signed in as customer %s", customer_id)
        return Visitor(customer_id, address), welcome
    if hello.resume:
        address = user_address(channel.resume_tokens.sub(hello.resume))
        welcome["verified"] = True
        return Visitor(await channel.runtime.resolver.resolve("webchat", address), address), welcome
    if visitor_address and await channel.runtime.redis.exists(SIGNED_IN_PREFIX + visitor_address):
        # This browser's anonymous conversation now belongs to a signed-in user: a visitor
        # after them (signed out, shared computer) starts anew.
        visitor_address = None
    if visitor_address is None:
        token = channel.visitors.issue()
        visitor_address = channel.visitors.address(token)
        welcome.update(visitor=token, reset=True)
    return Visitor(await channel.runtime.resolver.resolve("webchat", visitor_address), visitor_address), welcome


async def from_authorization(channel: Any, header: Optional[str]) -> Visitor:
    """`Authorization: Visitor <token>` or `Resume <token>`, as the welcome gave them; a visitor
    token whose browser signed in since is refused like a forged one (it starts anew by a hello)."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme == "Resume" and token:
        address = user_address(channel.resume_tokens.sub(token))
    elif scheme == "Visitor" and token:
        address = channel.visitors.address(token)
        if await channel.runtime.redis.exists(SIGNED_IN_PREFIX + address):
            raise TokenRefused("visitor token of a browser that signed in")
    else:
        raise TokenRefused("no token")
    return Visitor(await channel.runtime.resolver.resolve("webchat", address), address)


async def store_message(channel: Any, visitor: Visitor, message: CustomerMessage,
                        media: Optional[List[Dict[str, Any]]] = None,
                        attachment: Optional[Dict[str, Any]] = None) -> Tuple[int, bool]:
    """Transcript first, then the inbox; both ignore a message they have (a re-send).
    (The entry's number, whether the inbox took it as new.)"""
    entry: Dict[str, Any] = {"from": "customer", "text": message.text or message.payload or ""}
    if attachment:
        entry["attachment"] = attachment
    seq = await channel.transcript.append(visitor.customer_id, entry, message.client_id)
    event = InboundEvent(
        channel="webchat", kind=kinds.MESSAGE, event_id=f"{visitor.address}:{message.client_id}",
        address=visitor.address, provider_message_id=f"webchat:{visitor.customer_id}:{seq}",
        timestamp=time.time(), text=message.text, payload=message.payload, media=media or [],
        message_type="button" if message.payload else ("media" if media else "text"),
    )
    new = await channel.inbox.accept([event])
    return seq, bool(new)


async def record_read(channel: Any, visitor: Visitor, seq: int) -> None:
    """The visitor saw entry `seq` (a bot's or agent's): a "read" status of that message, put
    in the inbox like a provider's status webhook, so the inbox worker records it as it
    records WhatsApp's (connectors/webhook/records.py)."""
    await channel.inbox.accept([InboundEvent(
        channel="webchat", kind=kinds.STATUS, event_id=f"{visitor.address}:read:{seq}",
        target_message_id=f"webchat:{visitor.customer_id}:{seq}", status="read", timestamp=time.time())])


async def follow_transcript(channel: Any, customer_id: str, after: int,
                            show: Callable[[Dict[str, Any]], Awaitable[None]],
                            idle: Optional[Callable[[], Awaitable[None]]] = None) -> None:
    """Every transcript entry after `after`, then each new one, until cancelled (or `show`
    raises: the connection is gone), on a Redis client of its own (a blocking read holds its
    connection), the customer counted present meanwhile. `idle` runs after each wait that brought nothing (FOLLOW_BLOCK_MS)."""
    redis = connect(channel.redis_url_for_sockets())
    transcript = channel.transcript_on(redis)
    # Presence on the shared client: the blocking one may be mid-read when cancelled.
    presence, connection_id = Presence(channel.runtime.redis), uuid.uuid4().hex
    last = after
    try:
        while True:
            try:
                await presence.here(customer_id, connection_id)
                entries = await transcript.follow(customer_id, last, FOLLOW_BLOCK_MS)
            except RedisError as error:
                log.warning("webchat: transcript of customer %s unreadable (%s); retrying",
                            customer_id, type(error).__name__)
                await asyncio.sleep(1)
                continue
            for entry in entries:
                await show(entry)
                last = entry["seq"]
            if not entries and idle is not None:
                await idle()
    finally:
        try:
            await presence.gone(customer_id, connection_id)
        except RedisError:
            pass  # lapses by itself (connectors/webchat/presence.py)
        finally:
            await redis.close()
