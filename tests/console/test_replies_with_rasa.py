"""Agent work against the real assistant: replies reach the customer's channel through Rasa
and the sandbox provider, are recorded as the agent's in the CRM timeline, and handing back
makes the bot answer again. Needs models/threadline.tar.gz (`make train`)."""
from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from threadline.crm.models import Handoff, Interaction
from threadline.handoff.rasa_api import RasaApi
from threadline.handoff.store import OpenHandoff, get_handoff
from threadline.identity.lookup import find_by_address
from threadline.identity.services import IdentityServices
from tests.console.conftest import customer_writes, log_in, page_token, sent_texts, serve_console
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
WA_ID, PHONE, OTHER_PHONE = "5511987654321", "+5511987654321", "+5511912345678"


@pytest.fixture
async def console(stack, stack_db, agents_on_stack):
    client, redis = await serve_console(stack_db, stack.env["REDIS_URL"], RasaApi(stack.base, stack.token))
    yield client
    await client.close()
    await redis.close()


@pytest.fixture
def agents_on_stack(stack_db):
    from threadline.console.agents import AddAgent, ListAgents
    from tests.console.conftest import PASSWORDS

    known = {a.name for a in ListAgents(stack_db)()}
    return {name: AddAgent(stack_db)(name, password) for name, password in PASSWORDS.items() if name not in known}


async def escalated_after_first_message(stack, stack_db, provider, channel: str, address: str) -> tuple:
    """The customer writes, the bot answers, then the conversation is handed to a person and
    the bot paused (what the assistant's handoff action does)."""
    before = len(sent_texts(provider, channel, address))
    await customer_writes(stack, channel, address, "hello")
    await wait_for(lambda: sent_texts(provider, channel, address)[before:], timeout=60)
    customer_id = await stack_db.run(lambda s: find_by_address(s, channel, address))
    opened = await OpenHandoff(stack_db)(customer_id, reason="requested", channel=channel,
                                         summary_text="Wants a person.", summary={})
    await RasaApi(stack.base, stack.token).append_events(customer_id, [{"event": "pause"}])
    return customer_id, opened.handoff.id


async def act(console, handoff_id: str, action: str, **form) -> str:
    token = await page_token(console, f"/handoffs/{handoff_id}")
    response = await console.post(f"/handoffs/{handoff_id}/{action}", data={"csrf_token": token, **form},
                                  allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def test_agent_replies_reach_the_customers_channels_and_are_the_agents_in_the_timeline(
        stack, stack_db, provider, console):
    customer_id, handoff_id = await escalated_after_first_message(stack, stack_db, provider, "whatsapp", WA_ID)
    identities = IdentityServices(stack_db, stack.env["REDIS_URL"])
    await identities.link()(customer_id, "sms", PHONE, actor="test", reason="the customer confirmed it")
    await identities.index.close()
    await log_in(console, "ana")
    await act(console, handoff_id, "claim")
    page = await (await console.get(f"/handoffs/{handoff_id}")).text()
    assert '<option value="whatsapp" selected>WhatsApp</option>' in page and '<option value="sms">SMS</option>' in page

    before = len(sent_texts(provider, "whatsapp", WA_ID))
    location = await act(console, handoff_id, "reply", text="Hi, this is Ana from support.", channel="whatsapp")
    assert location.endswith("?sent=whatsapp")
    replies = await wait_for(lambda: sent_texts(provider, "whatsapp", WA_ID)[before:], timeout=20)
    assert replies == ["Hi, this is Ana from support."]
    await act(console, handoff_id, "reply", text="Also sent to your phone by SMS.", channel="sms")
    assert await wait_for(lambda: sent_texts(provider, "sms", PHONE), timeout=20) == ["Also sent to your phone by SMS."]

    def agent_rows(session):
        return session.execute(select(Interaction.channel, Interaction.text).where(
            Interaction.customer_id == customer_id, Interaction.author == "agent").order_by(Interaction.id)).all()

    rows = await wait_for(lambda: _at_least(stack_db, agent_rows, 2), timeout=30)
    assert [tuple(r) for r in rows] == [("whatsapp", "Hi, this is Ana from support."),
                                        ("sms", "Also sent to your phone by SMS.")]
    # The conversation page shows the agent's messages in the cross-channel timeline.
    page = await (await console.get(f"/handoffs/{handoff_id}")).text()
    assert 'class="entry agent"' in page and "Also sent to your phone by SMS." in page


async def test_the_bot_is_silent_while_paused_and_answers_again_after_hand_back(stack, stack_db, provider, console):
    customer_id, handoff_id = await escalated_after_first_message(stack, stack_db, provider, "sms", OTHER_PHONE)
    answered = len(sent_texts(provider, "sms", OTHER_PHONE))
    await customer_writes(stack, "sms", OTHER_PHONE, "are you a bot?")
    await asyncio.sleep(4)
    assert len(sent_texts(provider, "sms", OTHER_PHONE)) == answered  # a person owns it: the bot is silent

    await log_in(console, "bruno")
    await act(console, handoff_id, "claim")
    assert await act(console, handoff_id, "hand-back") == "/"
    handoff = await get_handoff(stack_db, handoff_id)
    assert (handoff.status, handoff.resolution) == ("resolved", "handed_back")
    answered = await _after_the_csat_question(provider, "sms", OTHER_PHONE, answered)

    await customer_writes(stack, "sms", OTHER_PHONE, "are you a bot?")
    [answer] = await wait_for(lambda: sent_texts(provider, "sms", OTHER_PHONE)[answered:], timeout=30)
    assert "bot" in answer.lower()


async def test_closing_resolves_the_handoff_and_the_bot_answers_the_next_message(stack, stack_db, provider, console):
    phone = "+5511933332222"
    _, handoff_id = await escalated_after_first_message(stack, stack_db, provider, "sms", phone)
    answered = len(sent_texts(provider, "sms", phone))
    await log_in(console, "ana")
    await act(console, handoff_id, "claim")
    refused = await console.post(f"/handoffs/{handoff_id}/close", allow_redirects=False, data={
        "csrf_token": await page_token(console, f"/handoffs/{handoff_id}"), "close_label": "too_expensive"})
    assert refused.status == 400 and (await get_handoff(stack_db, handoff_id)).status == "assigned"
    assert await act(console, handoff_id, "close", close_label="delivery_time") == "/"
    handoff = await get_handoff(stack_db, handoff_id)
    assert (handoff.status, handoff.resolution) == ("resolved", "closed")
    label = await stack_db.run(lambda s: s.get(Handoff, handoff_id).close_label)
    assert label == "delivery_time"  # the abandonment reason Insights shows
    queue = await (await console.get("/")).text()
    assert handoff_id not in queue
    answered = await _after_the_csat_question(provider, "sms", phone, answered)
    await customer_writes(stack, "sms", phone, "are you a bot?")
    [answer] = await wait_for(lambda: sent_texts(provider, "sms", phone)[answered:], timeout=30)
    assert "bot" in answer.lower()


async def _after_the_csat_question(provider, channel: str, address: str, answered: int) -> int:
    """A resolved handoff asks the CSAT question first (tests/console/test_csat_with_rasa.py)."""
    [asked] = await wait_for(lambda: sent_texts(provider, channel, address)[answered:], timeout=30)
    assert asked.startswith("How would you rate")
    return answered + 1


def _at_least(db, read, count: int):
    rows = db.transaction(read)
    return rows if len(rows) >= count else None


async def test_channel_rules_apply_to_agent_replies(stack, stack_db, provider, console):
    """Instagram after the bot's 24 hours: sent with the HUMAN_AGENT tag. WhatsApp after its
    24-hour window: held, and the agent is told it was not sent."""
    from redis.asyncio import Redis

    igsid, wa_id = "17841400000000077", "5511977776666"
    redis = Redis.from_url(stack.env["REDIS_URL"])
    handoffs = {}
    for channel, address in (("instagram", igsid), ("whatsapp", wa_id)):
        _, handoffs[channel] = await escalated_after_first_message(stack, stack_db, provider, channel, address)
        days_ago = 3 if channel == "instagram" else 1.1
        await redis.set(f"tl:out:window:{channel}:{address}", time.time() - days_ago * 86400)
    await redis.close()
    await log_in(console, "ana")

    await act(console, handoffs["instagram"], "claim")
    before = len([s for s in provider.sent if s["to"] == igsid])
    assert (await act(console, handoffs["instagram"], "reply", text="Ana here, sorry for the wait.")).endswith("?sent=instagram")
    [tagged] = await wait_for(lambda: [s for s in provider.sent if s["to"] == igsid][before:], timeout=20)
    assert tagged["body"]["message"]["text"] == "Ana here, sorry for the wait."
    assert (tagged["body"]["messaging_type"], tagged["body"]["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")

    await act(console, handoffs["whatsapp"], "claim")
    before = len(sent_texts(provider, "whatsapp", wa_id))
    location = await act(console, handoffs["whatsapp"], "reply", text="Ana here.")
    assert "not_sent=whatsapp" in location and "window+closed" in location
    page = await (await console.get(location)).text()
    assert "Not sent on WhatsApp: whatsapp 24-hour window closed" in page
    await asyncio.sleep(2)
    assert len(sent_texts(provider, "whatsapp", wa_id)) == before
