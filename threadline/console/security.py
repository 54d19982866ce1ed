"""Login, CSRF and headers for every console request (aiohttp middlewares).

- Without a valid session, a page redirects to /login (after which the agent comes back);
  any other method gets 403. The session's agent must still be active.
- Every POST carries the CSRF token (form field `csrf_token` or header `X-CSRF-Token`): the
  session's token once logged in; before login, a random token in a cookie that the login form
  repeats (double submit). A POST without it gets 403 and changes nothing.
- Pages speak the agent's chosen language, before a choice the browser's (i18n.py).
- The cookie is HttpOnly and SameSite=Lax, and Secure when served over HTTPS: directly, or
  through a proxy in CONSOLE_TRUSTED_PROXIES that says so (X-Forwarded-Proto); pages cannot
  be framed and scripts come only from the console itself.
"""
from __future__ import annotations

import asyncio
import secrets
from typing import Awaitable, Callable, Optional, Tuple
from urllib.parse import quote

from aiohttp import web

from threadline.console.agents import AgentView, active_agent
from threadline.console.i18n import choose_language, translator
from threadline.console.sessions import ConsoleSession
from threadline.console.state import Console, console_of

SESSION_COOKIE = "tl_console"
LOGIN_CSRF_COOKIE = "tl_console_login"
PUBLIC_PATHS = ("/login", "/health")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    secure = console_of(request).proxies.is_https(request)
    response.set_cookie(name, value, httponly=True, samesite="Lax", secure=secure, path="/")


async def logged_in(console: Console, session_id: Optional[str], *,
                    touch: bool = True) -> Tuple[Optional[ConsoleSession], Optional[AgentView]]:
    """The session and its agent, both still valid (the agent not disabled), or (None, None)."""
    session = await console.sessions.get(session_id, touch=touch)
    agent = None
    if session is not None:
        agent = await asyncio.to_thread(active_agent, console.db, session.agent_id)
    return (session, agent) if agent else (None, None)


def login_csrf_token(request: web.Request) -> str:
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


async def _posted_token(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return str((await request.post()).get("csrf_token", ""))
    return ""


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        error.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response


@web.middleware
async def require_login(request: web.Request, handler: Handler) -> web.StreamResponse:
    public = request.path in PUBLIC_PATHS or request.path.startswith("/static/")
    session, agent = await logged_in(console_of(request), request.cookies.get(SESSION_COOKIE))
    if agent is None and not public:
        if request.method in ("GET", "HEAD") and not request.path.startswith("/events/"):
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
        raise web.HTTPForbidden(text="log in first")
    request["session"], request["agent"] = session, agent
    return await handler(request)


@web.middleware
async def pick_language(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The language of this request's pages: the agent's choice, else the browser's."""
    agent = request.get("agent")
    request["language"] = choose_language(agent.language if agent else None,
                                          request.headers.get("Accept-Language"))
    return await handler(request)


@web.middleware
async def require_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        token = await _posted_token(request)
        session = request.get("session")
        if session is not None:
            valid = session.csrf_matches(token)
        else:
            expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
            valid = bool(expected) and secrets.compare_digest(token.encode(), expected.encode())
        if not valid:
            raise web.HTTPForbidden(text=translator(request["language"]).gettext(
                "missing or wrong CSRF token; reload the page and try again"))
    return await handler(request)
