"""The widget's transport when a WebSocket cannot open (a proxy or a browser that blocks
them): the same frames and numbered entries over plain HTTP (docs/webchat.md, Transport).

  POST hello      the hello frame as the body → the welcome frame (as the socket's first
                  answer); 400 malformed, 401 token refused, 429 connections per address
  GET  events     server-sent events: every transcript entry after `Last-Event-ID` (the last
                  number the widget has), then each new one (`id: <n>`, `data: <entry frame>`),
                  a comment every few seconds while nothing happens
  POST messages   one widget frame (message, read, ping) → {"frames": [ack, typing]}; 400
                  malformed, 413 over 8 KB, 429 more messages than the limit
The last two name the visitor by `Authorization: Visitor <token>` or `Resume <token>` (what
the welcome gave), so, as on the socket, a request can only reach its own customer's
transcript. Every page must be of WEBCHAT_ALLOWED_ORIGINS; every refusal is one log line.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from redis.exceptions import RedisError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from connectors.webchat import protocol
from connectors.webchat.http_door import admitted_visitor, check_page, cors, refusal
from connectors.webchat.protocol import BadFrame, ReadReceipt, encode
from connectors.webchat.tokens import TokenRefused
from connectors.webchat.visitor import follow_transcript, identify, record_read, store_message
from connectors.webhook.channel import Rejected
from threadline.identity.merge import MergeRefused


def _body(request: Request) -> str:
    return (request.body or b"").decode("utf-8", "surrogateescape")


def _bad_frame(bad: BadFrame) -> Rejected:
    return Rejected(413 if bad.code == protocol.TOO_BIG else 400, bad.reason)


async def hello(channel: Any, request: Request) -> HTTPResponse:
    try:
        check_page(channel, request)
        if not await channel.connection_limit.admit(request.remote_addr or request.ip or ""):
            raise Rejected(429, "too many connections from this address")
        try:
            _, welcome = await identify(channel, protocol.parse_hello(_body(request)))
        except BadFrame as bad:
            raise _bad_frame(bad) from None
        except TokenRefused as refused:
            raise Rejected(401, refused.reason) from None
    except Rejected as closed:
        return refusal(channel, request, "fallback hello", closed)
    except (RedisError, SQLAlchemyError, MergeRefused, OSError) as error:
        return refusal(channel, request, "fallback hello", Rejected(503, f"try again ({type(error).__name__})"))
    return response.json(welcome, headers=cors(channel, request))


async def events(channel: Any, request: Request) -> Optional[HTTPResponse]:
    """A refusal, or (None) the stream, until the widget goes (a send then raises)."""
    try:
        visitor = await admitted_visitor(channel, request)
        last = (request.headers.get("last-event-id") or "0").strip()
        if not last.isdigit() or len(last) > 12:
            raise Rejected(400, "Last-Event-ID is not an entry number")
        if not await channel.connection_limit.admit(request.remote_addr or request.ip or ""):
            raise Rejected(429, "too many connections from this address")
    except Rejected as closed:
        return refusal(channel, request, "fallback events", closed)
    stream = await request.respond(content_type="text/event-stream; charset=utf-8", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no", **cors(channel, request)})
    await stream.send(": connected\n\n")

    async def show(entry: Dict[str, Any]) -> None:
        await stream.send(f"id: {entry['seq']}\nevent: entry\ndata: {encode({'type': 'entry', **entry})}\n\n")

    async def idle() -> None:  # keeps proxies from closing a quiet stream
        await stream.send(": idle\n\n")

    await follow_transcript(channel, visitor.customer_id, int(last), show, idle)
    return None


async def messages(channel: Any, request: Request) -> HTTPResponse:
    customer_id = None
    try:
        visitor = await admitted_visitor(channel, request)
        customer_id = visitor.customer_id
        try:
            message = protocol.parse_frame(_body(request))
        except BadFrame as bad:
            raise _bad_frame(bad) from None
        frames: List[Dict[str, Any]] = []
        if message is None:
            frames.append({"type": "pong"})
        elif isinstance(message, ReadReceipt):
            await record_read(channel, visitor, message.seq)
        else:
            if not await channel.message_limit.admit(customer_id):
                raise Rejected(429, "too many messages")
            seq, new = await store_message(channel, visitor, message)
            frames.append({"type": "ack", "id": message.client_id, "seq": seq})
            if new:
                frames.append({"type": "typing"})
    except Rejected as closed:
        return refusal(channel, request, "fallback message", closed, customer_id)
    except RedisError:
        return refusal(channel, request, "fallback message", Rejected(503, "storage unavailable"), customer_id)
    return response.json({"frames": frames}, headers=cors(channel, request))
