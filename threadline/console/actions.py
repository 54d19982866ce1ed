"""POST /handoffs/{id}/{claim,reply,note,hand-back,close}: the agent operations behind forms.

Answers 303 back to a page (so a reload never posts twice); a refused operation answers with
its status: 403 another agent's handoff, 404 unknown, 409 wrong state, 400 bad input,
502 the Rasa server did not take the message.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable
from urllib.parse import quote, urlencode

from aiohttp import web

from threadline.console.delivery import DeliveryProblems
from threadline.handoff.agent_operations import (
    AddInternalNote, ChannelNotReachable, ClaimHandoff, CloseHandoff, HandBack, HandoffConflict,
    HandoffNotFound, NotYourHandoff, ReplyToCustomer)
from threadline.handoff.rasa_api import RasaApiError
from threadline.console.i18n import translator
from threadline.console.rendering import language_of
from threadline.console.state import console_of

log = logging.getLogger("threadline.console")


async def _run(request: web.Request, operation: Callable[[web.Request, str, str], Awaitable[str]]) -> web.Response:
    handoff_id, agent = request.match_info["handoff_id"], request["agent"]
    try:
        target = await operation(request, handoff_id, agent.id)
    except NotYourHandoff as error:
        raise web.HTTPForbidden(text=str(error))
    except HandoffNotFound as error:
        raise web.HTTPNotFound(text=str(error))
    except HandoffConflict as error:
        raise web.HTTPConflict(text=str(error))
    except (ChannelNotReachable, ValueError) as error:
        raise web.HTTPBadRequest(text=str(error))
    except RasaApiError as error:
        log.error("console: handoff %s by agent %s: %s", handoff_id, agent.id, error)
        gettext = translator(language_of(request)).gettext
        raise web.HTTPBadGateway(text=gettext("the assistant did not take it (%(error)s); try again")
                                 % {"error": error})
    raise web.HTTPSeeOther(target)


def _page(handoff_id: str) -> str:
    return f"/handoffs/{quote(handoff_id)}"


async def _claim(request: web.Request, handoff_id: str, agent_id: str) -> str:
    await ClaimHandoff(console_of(request).db)(handoff_id, agent_id)
    return _page(handoff_id)


async def _reply(request: web.Request, handoff_id: str, agent_id: str) -> str:
    form = await request.post()
    console = console_of(request)
    problems = DeliveryProblems(console.redis)
    mark = await problems.mark()
    customer_id, channel = await ReplyToCustomer(console.db, console.rasa)(
        handoff_id, agent_id, str(form.get("text", "")), str(form.get("channel", "")) or None)
    held = await problems.since(mark, customer_id)
    if held:
        return f"{_page(handoff_id)}?{urlencode({'not_sent': channel, 'why': held[0].reason})}"
    return f"{_page(handoff_id)}?sent={channel}"


async def _note(request: web.Request, handoff_id: str, agent_id: str) -> str:
    await AddInternalNote(console_of(request).db)(handoff_id, agent_id, str((await request.post()).get("text", "")))
    return _page(handoff_id)


async def _hand_back(request: web.Request, handoff_id: str, agent_id: str) -> str:
    console = console_of(request)
    await HandBack(console.db, console.rasa)(handoff_id, agent_id)
    return "/"


async def _close(request: web.Request, handoff_id: str, agent_id: str) -> str:
    console = console_of(request)
    await CloseHandoff(console.db, console.rasa)(handoff_id, agent_id)
    return "/"


OPERATIONS = {"claim": _claim, "reply": _reply, "note": _note, "hand-back": _hand_back, "close": _close}


async def handoff_action(request: web.Request) -> web.Response:
    operation = OPERATIONS.get(request.match_info["action"])
    if operation is None:
        raise web.HTTPNotFound(text=translator(language_of(request)).gettext("no such action"))
    return await _run(request, operation)
