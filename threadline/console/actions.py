"""POST /handoffs/{id}/{claim,reply,note,hand-back,close} and /customers/{id}/cases/{id}/resolve:
the agent operations behind forms.

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
    HandoffNotFound, NotYourHandoff, ReplyToCustomer, reply_channels)
from threadline.handoff.case_operations import CaseAlreadyResolved, CaseNotFound, ResolveCase
from threadline.handoff.store import HandoffView
from threadline.insights.csat import AskCsat
from threadline.handoff.languages import marked
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


async def _ask_csat(request: web.Request, view: HandoffView) -> None:
    """The CSAT question after a handoff ends, on its channel if the customer is reachable there
    (rules: threadline/insights/csat.py). A failure is logged: the handoff is resolved anyway."""
    console = console_of(request)
    try:
        reachable = await console.db.run(lambda s: reply_channels(s, view.customer_id))
        channel = view.channel if view.channel in reachable else None
        await AskCsat(console.db, console.rasa, console.opted_out)(
            view.customer_id, channel, "handoff", view.id)
    except Exception as error:  # noqa: BLE001 - never undo a close for a survey
        log.error("console: CSAT question after handoff %s not sent: %s", view.id, type(error).__name__)


async def _hand_back(request: web.Request, handoff_id: str, agent_id: str) -> str:
    console = console_of(request)
    view = await HandBack(console.db, console.rasa)(handoff_id, agent_id)
    await _ask_csat(request, view)
    return "/"


async def _close(request: web.Request, handoff_id: str, agent_id: str) -> str:
    console = console_of(request)
    label = str((await request.post()).get("close_label", ""))
    view = await CloseHandoff(console.db, console.rasa)(handoff_id, agent_id, close_label=label or None)
    await _ask_csat(request, view)
    return "/"


async def resolve_case(request: web.Request) -> web.Response:
    """POST /customers/{customer_id}/cases/{case_id}/resolve: the agent resolves a case; the
    customer is asked the CSAT question on the case's channel (or none if unreachable there)."""
    console = console_of(request)
    customer_id, agent = request.match_info["customer_id"], request["agent"]
    unknown = translator(language_of(request)).gettext(marked("no such case"))
    try:
        case_id = int(request.match_info["case_id"])
    except ValueError:
        raise web.HTTPNotFound(text=unknown) from None
    try:
        case = await ResolveCase(console.db)(customer_id, case_id, agent.id)
    except CaseNotFound:
        raise web.HTTPNotFound(text=unknown) from None
    except CaseAlreadyResolved as error:
        raise web.HTTPConflict(text=str(error))
    try:
        reachable = await console.db.run(lambda s: reply_channels(s, case.customer_id))
        channel = case.channel if case.channel in reachable else None
        await AskCsat(console.db, console.rasa, console.opted_out)(case.customer_id, channel, "case", str(case.id))
    except Exception as error:  # noqa: BLE001 - never undo a resolution for a survey
        log.error("console: CSAT question after case %s not sent: %s", case.id, type(error).__name__)
    raise web.HTTPSeeOther(f"/customers/{quote(case.customer_id)}?resolved={case.id}")


OPERATIONS = {"claim": _claim, "reply": _reply, "note": _note, "hand-back": _hand_back, "close": _close}


async def handoff_action(request: web.Request) -> web.Response:
    operation = OPERATIONS.get(request.match_info["action"])
    if operation is None:
        raise web.HTTPNotFound(text=translator(language_of(request)).gettext("no such action"))
    return await _run(request, operation)
