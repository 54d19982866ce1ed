"""WEBCHAT_REPLY_ELSEWHERE=true on the scripted stack with the sandbox provider: a WhatsApp
customer signs in on the web chat (the site verified their phone) and leaves the page; an
agent's reply then reaches them on WhatsApp too (the sandbox receives it on the Cloud API),
and is in the transcript for their next visit. While the widget is open, the reply goes to
the widget only; a visitor with no other verified channel finds it on their next visit."""
from __future__ import annotations

import aiohttp
import pytest

from connectors.webchat.config import WebchatSettings
from connectors.webchat.presence import Presence
from threadline.sandbox import payloads as p
from tests.channels.conftest import post, scripted_env
from tests.channels.helpers import handled, sent
from tests.support.webchat import open_widget, site_token, webchat_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio
WA_ID = "5511987650123"


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return {**webchat_env(scripted_env(redis_server, tmp_path_factory)), "WEBCHAT_REPLY_ELSEWHERE": "true"}


async def agent_reply(bot, customer_id: str, text: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(bot.base.replace("/webhooks", "/test/agent-reply"), json={
                "channel": "webchat", "customer_id": customer_id, "text": text, "agent_name": "Ana"}) as answer:
            assert answer.status == 200


async def gone(store, customer_id: str) -> None:
    """The server noticed the widget closed (its connection left the presence set)."""
    async def nobody() -> bool:
        return not await Presence(store).anyone(customer_id)
    await wait_for(nobody)


async def test_an_agents_reply_reaches_a_visitor_who_left_on_whatsapp(bot, sandbox, store, channel_env):
    envelope = p.whatsapp_envelope(channel_env["WHATSAPP_PHONE_NUMBER_ID"],
                                   [p.whatsapp_message("text", WA_ID, {"body": "where is order 77?"})],
                                   [], [p.whatsapp_contact(WA_ID, "Caio Reis")])
    assert await post(f"{bot.base}/whatsapp/webhook", p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)) == 200
    customer_id = (await handled(store))[0]["sender_id"]
    await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID))  # the bot's answer there
    on_whatsapp = len(sent(sandbox, "whatsapp", WA_ID))

    widget = await open_widget(bot, login=site_token("shop-caio", phone="+" + WA_ID))
    resume = (await widget.welcome())["resume"]
    await widget.say("I am on the website now")
    await wait_for(lambda: "You said: I am on the website now" in widget.texts(), timeout=15)

    # The widget is open: the reply is shown there, and goes nowhere else.
    await agent_reply(bot, customer_id, "Ana here, looking at it")
    await wait_for(lambda: "Ana here, looking at it" in widget.texts(), timeout=5)
    assert len(sent(sandbox, "whatsapp", WA_ID)) == on_whatsapp
    await widget.close()
    await gone(store, customer_id)

    # The page is closed: the reply goes by WhatsApp too, and waits in the transcript.
    await agent_reply(bot, customer_id, "It ships tomorrow")
    later = await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID)[on_whatsapp:])
    assert [s["body"]["text"]["body"] for s in later] == ["It ships tomorrow"]
    back = await open_widget(bot, resume=resume)
    await wait_for(lambda: "It ships tomorrow" in back.texts())
    assert next(e for e in back.entries() if e["text"] == "It ships tomorrow")["agent"] == "Ana"
    await back.close()
    assert "the agent's reply also went by whatsapp" in bot.edge.log()


async def test_a_visitor_with_no_other_channel_finds_the_reply_on_their_next_visit(bot, sandbox, store):
    widget = await open_widget(bot, visitor=None)
    visitor = (await widget.welcome())["visitor"]
    await widget.say("anyone there?")
    await wait_for(lambda: "You said: anyone there?" in widget.texts(), timeout=15)
    await widget.close()
    customer_id = next(t for t in await handled(store, 1) if t["text"] == "anyone there?")["sender_id"]
    await gone(store, customer_id)
    await agent_reply(bot, customer_id, "Yes, Ana here")
    assert sandbox.sent == []
    back = await open_widget(bot, visitor=visitor)
    await wait_for(lambda: "Yes, Ana here" in back.texts())
    await back.close()
    assert f"visitor {customer_id} away, no other verified channel" in bot.edge.log()


def test_off_unless_the_business_allows_it(monkeypatch):
    monkeypatch.delenv("WEBCHAT_REPLY_ELSEWHERE", raising=False)
    assert WebchatSettings.from_credentials(None).reply_elsewhere is False
    monkeypatch.setenv("WEBCHAT_REPLY_ELSEWHERE", "true")
    assert WebchatSettings.from_credentials(None).reply_elsewhere is True
