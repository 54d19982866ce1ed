"""What every plain-HTTP request of the widget goes through (uploads, the SSE fallback): the
page's origin in WEBCHAT_ALLOWED_ORIGINS (answered with the CORS headers a cross-site page
needs), and the visitor named by the request's Authorization header."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from redis.exceptions import RedisError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.webchat.config import normalized_origin
from connectors.webchat.tokens import TokenRefused
from connectors.webchat.visitor import Visitor, from_authorization
from connectors.webhook.channel import Rejected

log = logging.getLogger(__name__)
ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID, X-Message-Id, X-File-Name"


def page_origin(request: Request) -> Optional[str]:
    """The requesting page's origin: Origin, else (a same-origin GET carries none) Referer's."""
    origin = request.headers.get("origin")
    if origin:
        return origin
    head = (request.headers.get("referer") or "").split("/", 3)
    return normalized_origin("/".join(head[:3])) if len(head) >= 3 else None


def cors(channel: Any, request: Request) -> Dict[str, str]:
    origin = request.headers.get("origin")
    if not channel.settings.allows(origin):
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS, "Access-Control-Allow-Methods": "GET, POST"}


def preflight(channel: Any, request: Request) -> HTTPResponse:
    headers = cors(channel, request)
    return response.empty(status=204 if headers else 403, headers=headers)


def check_page(channel: Any, request: Request) -> None:
    """Rejected unless the channel runs and the request comes from an allowed page."""
    if channel.disabled:
        raise Rejected(404, "channel disabled")
    if not channel.settings.allows(page_origin(request)):
        raise Rejected(403, "origin not allowed")
    if channel.inbox is None:
        raise Rejected(503, "channel starting")


async def admitted_visitor(channel: Any, request: Request) -> Visitor:
    """The visitor of an allowed page's request; Rejected (with its HTTP status) otherwise."""
    check_page(channel, request)
    try:
        return await from_authorization(channel, request.headers.get("authorization"))
    except TokenRefused as refused:
        raise Rejected(401, refused.reason) from None
    except RedisError:
        raise Rejected(503, "storage unavailable") from None


def refusal(channel: Any, request: Request, what: str, closed: Rejected,
            customer_id: Optional[str] = None) -> HTTPResponse:
    """One log line (reason, customer when known, never content) and the error for the widget."""
    log.warning("webchat: %s refused with %d: %s (customer %s, from %s)", what, closed.status, closed.reason,
                customer_id or "-", request.remote_addr or request.ip)
    return response.json({"error": closed.reason}, status=closed.status, headers=cors(channel, request))
