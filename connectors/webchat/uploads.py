"""POST attachment: a file from the widget becomes a customer message of the transcript and
the inbox (the bot answers it as media on any channel: /share_media); GET files/<name>
serves it back to the widget and the console.

The request: the file as the body, its type as Content-Type, the widget's message id in
X-Message-Id (a re-sent upload is the same message), the file's name in X-File-Name
(percent-encoded; shown only), the visitor's token in Authorization.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from redis.exceptions import RedisError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.webchat.attachments import AttachmentStore, kind_of
from connectors.webchat.http_door import admitted_visitor, cors, refusal
from connectors.webchat.protocol import CustomerMessage
from connectors.webchat.visitor import store_message
from connectors.webhook.channel import Rejected


def _name(request: Request) -> str:
    shown = unquote(request.headers.get("x-file-name") or "").replace("/", "_").replace("\\", "_").strip()
    return "".join(c for c in shown if c.isprintable())[:120] or "file"


async def receive_attachment(channel: Any, request: Request) -> HTTPResponse:
    customer_id = None
    try:
        visitor = await admitted_visitor(channel, request)
        customer_id = visitor.customer_id
        client_id = (request.headers.get("x-message-id") or "").strip()
        if not client_id or len(client_id) > 64:
            raise Rejected(400, "message id missing")
        content_type = kind_of(request.headers.get("content-type") or "", request.body or b"",
                               channel.settings.max_attachment_bytes)
        if not await channel.message_limit.admit(customer_id):
            raise Rejected(429, "too many messages")
        stored = await AttachmentStore(channel.runtime.redis).put(content_type, request.body)
        path = request.path.rsplit("/attachment", 1)[0] + "/files/" + stored.name
        url = f"{request.scheme}://{request.host}{path}"
        attachment = {"url": url, "type": content_type, "name": _name(request), "size": stored.size}
        seq, _ = await store_message(channel, visitor, CustomerMessage(client_id=client_id, text=None, payload=None),
                                     media=[{"type": content_type, "url": url}], attachment=attachment)
    except Rejected as closed:
        return refusal(channel, request, "attachment", closed, customer_id)
    except RedisError:
        return refusal(channel, request, "attachment", Rejected(503, "storage unavailable"), customer_id)
    return response.json({"type": "ack", "id": client_id, "seq": seq}, headers=cors(channel, request))


async def serve_file(channel: Any, name: str) -> HTTPResponse:
    found = await AttachmentStore(channel.runtime.redis).get(name) if channel.runtime else None
    if found is None:
        return response.text("not found", status=404)
    content_type, data = found
    return response.raw(data, content_type=content_type, headers={
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, max-age=86400", "Cross-Origin-Resource-Policy": "cross-origin",
        "Referrer-Policy": "no-referrer"})
