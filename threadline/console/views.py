"""Pages: login and logout, the queue (with the channel messages the bot gave up on), one
conversation."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from urllib.parse import urlsplit

from aiohttp import web

from connectors.webhook.inbox import recent_dead_letters
from threadline.console import reads
from threadline.console.agents import Authenticate, SetAgentLanguage
from threadline.console.delivery import DeliveryProblems
from threadline.console.i18n import LOCALES, translator
from threadline.console.rendering import language_of, render
from threadline.console.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE, login_csrf_token, set_cookie
from threadline.handoff.store import open_handoffs
from threadline.console.state import console_of
from threadline.console.throttle import LoginThrottle
from threadline.crm.models.handoffs import CLOSE_LABELS

log = logging.getLogger("threadline.console")

DEAD_LETTERS_SHOWN = 20
FOLLOWUP_TASKS_SHOWN = 50


def translated(request: web.Request, message: str) -> str:
    """`message` in the language of this request's pages."""
    return translator(language_of(request)).gettext(message)


def _safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = login_csrf_token(request)
    response = render(request, "login.html", {"csrf_token": token, "error": error,
                                              "next": _safe_next(request.query.get("next", "/"))}, status=status)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    proxies = console_of(request).proxies
    if proxies.forwarded_headers_ignored(request):
        log.warning("console: login with X-Forwarded-* headers from a peer not in CONSOLE_TRUSTED_PROXIES; "
                    "headers ignored")
    # The real client, so that one guesser behind a proxy does not lock out everyone behind it.
    throttle, address = LoginThrottle(console_of(request).redis), proxies.client_address(request)
    if await throttle.blocked(name, address):
        log.warning("console: login refused: too many wrong passwords for this name from this client")
        return await login_page(request, translated(request, "Too many wrong passwords; try again in 15 minutes."),
                                status=429)
    agent = await asyncio.to_thread(Authenticate(console_of(request).db), name, password)
    if agent is None:
        await throttle.failed(name, address)
        return await login_page(request, translated(request, "Wrong name or password."), status=401)
    await throttle.succeeded(name, address)
    session = await console_of(request).sessions.create(agent.id)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    set_cookie(request, response, SESSION_COOKIE, session.id)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.Response:
    await console_of(request).sessions.delete(request["session"].id)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def choose_language(request: web.Request) -> web.Response:
    """The agent picks the console's language; it is theirs from now on, on every device."""
    form = await request.post()
    language = str(form.get("language", ""))
    if language not in LOCALES:
        raise web.HTTPBadRequest(text=translated(request, "unknown language"))
    await asyncio.to_thread(SetAgentLanguage(console_of(request).db), request["agent"].id, language)
    raise web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))


async def queue_context(request: web.Request) -> dict:
    db = console_of(request).db
    handoffs = await open_handoffs(db)
    return {"handoffs": handoffs, "agents": await reads.agent_names(db),
            "names": await reads.customer_names(db, [h.customer_id for h in handoffs])}


async def queue(request: web.Request) -> web.Response:
    context = await queue_context(request)
    return render(request, "queue.html", {**context, **await dead_letter_context(request),
                                          **await followup_context(request)})


async def followup_context(request: web.Request) -> dict:
    """The follow-up worker's tasks for people: stalled leads, promises due, unanswered customers."""
    db = console_of(request).db
    tasks = await reads.followup_tasks(db, limit=FOLLOWUP_TASKS_SHOWN, agent_id=request["agent"].id,
                                       language=language_of(request))
    return {"followups": tasks, "followup_names": await reads.customer_names(db, [t.customer_id for t in tasks])}


async def dead_letter_context(request: web.Request) -> dict:
    """Customer messages the bot will not answer: those it gave up on (the inbox's dead
    letters) and mail that arrived before Threadline started; channel, customer, reason and
    when, newest first; never the message itself."""
    console = console_of(request)
    letters = await recent_dead_letters(console.redis, limit=DEAD_LETTERS_SHOWN)
    old_mail = await reads.unanswered_mail(console.db, limit=DEAD_LETTERS_SHOWN)
    customers = [d.customer_id for d in letters if d.customer_id] + [m.customer_id for m in old_mail]
    names = await reads.customer_names(console.db, customers)
    rows = [{"channel": d.channel, "customer": names.get(d.customer_id) or d.customer_id or d.address,
             "reason": d.reason, "attempts": d.attempts,
             "at": datetime.fromtimestamp((d.at_ms or 0) / 1000, timezone.utc).replace(tzinfo=None)}
            for d in letters]
    rows += [{"channel": m.channel, "customer": names.get(m.customer_id) or m.customer_id,
              "reason": translated(request, "arrived before Threadline started"), "attempts": 0, "at": m.at}
             for m in old_mail]
    rows.sort(key=lambda row: row["at"], reverse=True)
    return {"dead_letters": rows[:DEAD_LETTERS_SHOWN]}


async def conversation(request: web.Request) -> web.Response:
    found = await reads.conversation(console_of(request).db, request.match_info["handoff_id"])
    if found is None:
        raise web.HTTPNotFound(text=translated(request, "no such handoff"))
    last_id = found.timeline[-1].id if found.timeline else 0
    problems = await DeliveryProblems(console_of(request).redis).recent(found.profile["customer_id"])
    return render(request, "conversation.html", {
        "c": found, "h": found.handoff, "s": found.handoff.summary, "last_id": last_id, "problems": problems,
        "sent": request.query.get("sent", ""), "not_sent": request.query.get("not_sent", ""),
        "why": request.query.get("why", ""), "mine": found.handoff.assigned_agent_id == request["agent"].id,
        "close_labels": CLOSE_LABELS,
    })


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
