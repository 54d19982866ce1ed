"""Who may use the sandbox provider.

The simulator page and the /sandbox/ API show identity codes and speak as any customer of the
sandboxed channels, so they need the page token `make run` prints: `/?token=…` once (the answer
keeps it in an HttpOnly cookie, the page's own fetches then carry it), or the X-Sandbox-Token
header for scripts and tests. Browser requests from any other origin are refused whatever they
carry. The fake provider APIs (/graph, /instagram, /twilio, /twilio-content, /rbm) are left to their handlers, which
check the generated provider credentials exactly as the real providers do, so the connectors
call them unchanged.
"""
from __future__ import annotations

import hmac
import logging
from typing import Awaitable, Callable

from aiohttp import web

from threadline.sandbox.config import SandboxConfig

log = logging.getLogger("threadline.sandbox")

HEADER = "X-Sandbox-Token"
PROVIDER_API_PREFIXES = ("/graph/", "/instagram/", "/twilio/", "/twilio-content/", "/rbm/")
OPEN_PATHS = frozenset({"/health"})  # the launcher's liveness check: says nothing else

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cookie_name(config: SandboxConfig) -> str:
    # Cookies ignore ports: the port in the name keeps another local service's from clashing.
    return f"threadline_sandbox_{config.port}"


def access_guard(config: SandboxConfig) -> Callable:
    expected = config.page_token.encode()

    def valid(presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), expected)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(PROVIDER_API_PREFIXES) or request.path in OPEN_PATHS:
            return await handler(request)
        origin = request.headers.get("Origin")
        if origin is not None and origin not in config.origins:
            log.warning("sandbox: refused %s %s: request from a foreign origin", request.method, request.path)
            return web.json_response({"error": "requests from other origins are refused"}, status=403)
        if request.path == "/" and "token" in request.query:
            if not valid(request.query["token"]):
                return _refused(request, "wrong page token")
            # Keep the token out of the address bar and history from here on.
            answer = web.HTTPSeeOther("/")
            answer.set_cookie(cookie_name(config), config.page_token, httponly=True, samesite="Strict", path="/")
            raise answer
        presented = request.headers.get(HEADER) or request.cookies.get(cookie_name(config)) or ""
        if not presented or not valid(presented):
            return _refused(request, "no page token" if not presented else "wrong page token")
        return await handler(request)

    return guard


def _refused(request: web.Request, reason: str) -> web.Response:
    log.warning("sandbox: refused %s %s: %s", request.method, request.path, reason)
    return web.json_response({"error": f"{reason}: open the simulator URL that `make run` printed "
                                       f"(…/?token=…) or send {HEADER}"}, status=401)
