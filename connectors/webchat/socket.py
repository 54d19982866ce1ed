"""`WebchatSocket`: one widget connection, from hello to close, on the Rasa server.

The customer is fixed by the hello's token and never named by a later frame: every entry
this connection receives is read from that one customer's transcript, so no frame can make
it show another conversation (the hole in Rasa's socketio channel, whose session id is the
client's choice). A customer message is stored in the transcript (every tab shows it), put
in the channel's inbox like any provider event (the inbox worker answers it), then acked.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Optional, Tuple

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from connectors.webchat import protocol
from connectors.webchat.protocol import BadFrame, ReadReceipt, encode
from connectors.webchat.tokens import TokenRefused
from connectors.webchat.visitor import Visitor, follow_transcript, identify, record_read, store_message
from threadline.identity.merge import MergeRefused

log = logging.getLogger(__name__)


async def refusal_before_upgrade(channel: Any, request: Any) -> Optional[Tuple[int, str]]:
    """(HTTP status, reason) when the socket must not even open: a page of another origin
    (its script could otherwise speak for a visitor of ours), too many connections from one
    address, or the channel not started yet."""
    if channel.disabled:
        return 404, "channel disabled"
    if not channel.settings.allows(request.headers.get("origin")):
        return 403, "origin not allowed"
    if channel.inbox is None:
        return 503, "channel starting"
    if not await channel.connection_limit.admit(request.remote_addr or request.ip or ""):
        return 429, "too many connections from this address"
    return None


class WebchatSocket:
    def __init__(self, channel: Any, request: Any, ws: Any) -> None:
        self.channel = channel
        self.ws = ws
        self.remote = request.remote_addr or request.ip or ""
        self.origin = request.headers.get("origin")
        self.customer_id = ""
        self.address = ""
        self._send_lock = asyncio.Lock()
        self._read = 0  # the last entry number this connection reported read

    async def run(self) -> None:
        try:
            hello = protocol.parse_hello(await self.ws.recv(timeout=protocol.HELLO_TIMEOUT_S))
            visitor, welcome = await identify(self.channel, hello)
            self.customer_id, self.address = visitor.customer_id, visitor.address
        except BadFrame as bad:
            await self._refuse(bad.code, bad.reason)
            return
        except TokenRefused as refused:
            await self._refuse(protocol.BAD_TOKEN, refused.reason)
            return
        except asyncio.TimeoutError:
            await self._refuse(protocol.HELLO_TIMEOUT, "no hello")
            return
        except (RedisError, SQLAlchemyError, MergeRefused, OSError) as error:
            # The identity steps failed (a merge that changed meanwhile, storage down): the
            # widget tries again shortly; nothing of another conversation was sent.
            log.error("webchat: could not identify the connection (%s)", type(error).__name__)
            await self._refuse(protocol.UNAVAILABLE, "try again")
            return
        await self._send(welcome)
        follower = asyncio.create_task(self._follow(0 if welcome["reset"] else hello.after))
        try:
            await self._receive()
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)

    async def _receive(self) -> None:
        channel = self.channel
        while True:
            raw = await self.ws.recv()
            if raw is None:
                return
            try:
                message = protocol.parse_frame(raw)
            except BadFrame as bad:
                await self._refuse(bad.code, bad.reason)
                return
            if message is None:
                await self._send({"type": "pong"})
                continue
            if isinstance(message, ReadReceipt):
                if message.seq > self._read:  # only news: a widget cannot flood the inbox with reads
                    self._read = message.seq
                    try:
                        await record_read(channel, Visitor(self.customer_id, self.address), message.seq)
                    except RedisError as error:  # a lost read tick is not worth the connection
                        log.warning("webchat: read of customer %s not recorded (%s)", self.customer_id,
                                    type(error).__name__)
                continue
            if not await channel.message_limit.admit(self.customer_id):
                await self._refuse(protocol.FLOOD, "too many messages")
                return
            try:
                seq, new = await store_message(channel, Visitor(self.customer_id, self.address), message)
            except RedisError as error:
                log.error("webchat: message of customer %s not stored (%s); the widget sends it again",
                          self.customer_id, type(error).__name__)
                await self._refuse(protocol.UNAVAILABLE, "storage unavailable")
                return
            await self._send({"type": "ack", "id": message.client_id, "seq": seq})
            if new:
                await self._send({"type": "typing"})

    async def _follow(self, after: int) -> None:
        async def show(entry: Dict[str, Any]) -> None:
            await self._send({"type": "entry", **entry})

        await follow_transcript(self.channel, self.customer_id, after, show)

    async def _send(self, frame: Dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send(encode(frame))

    async def _refuse(self, code: int, reason: str) -> None:
        log.warning("webchat: connection closed with %d: %s (customer %s, from %s)", code, reason,
                    self.customer_id or "-", self.remote)
        async with self._send_lock:
            await self.ws.close(code, reason)
