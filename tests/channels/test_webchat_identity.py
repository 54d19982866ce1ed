"""Web chat identity through the scripted stack: a visitor who signs in with a site token
joins the customer who owns the token's phone on WhatsApp (their turns run on that customer's
conversation), the anonymous chat moves with them, and the browser's old visitor token no
longer opens that conversation."""
from __future__ import annotations


import pytest

from threadline.sandbox import payloads as p
from tests.channels.conftest import post, scripted_env
from tests.channels.helpers import handled
from tests.support.webchat import open_widget, site_token, webchat_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio
WA_ID = "5511987650001"


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return webchat_env(scripted_env(redis_server, tmp_path_factory))


async def test_signed_in_visitor_joins_their_whatsapp_conversation(bot, sandbox, store, identity, channel_env):
    envelope = p.whatsapp_envelope(channel_env["WHATSAPP_PHONE_NUMBER_ID"],
                                   [p.whatsapp_message("text", WA_ID, {"body": "my order 1234 is late"})],
                                   [], [p.whatsapp_contact(WA_ID, "Ana Souza")])
    assert await post(f"{bot.base}/whatsapp/webhook", p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)) == 200
    [on_whatsapp] = await handled(store)
    whatsapp_customer = on_whatsapp["sender_id"]

    widget = await open_widget(bot, visitor=None)
    visitor = (await widget.welcome())["visitor"]
    await widget.say("hi, anyone there?")
    await wait_for(lambda: "You said: hi, anyone there?" in widget.texts(), timeout=15)
    anonymous = (await handled(store, 2))[1]["sender_id"]
    assert anonymous != whatsapp_customer
    await widget.close()

    signed_in = await open_widget(bot, visitor=visitor, login=site_token("shop-42", phone="+55 11 98765-0001"))
    welcome = await signed_in.welcome()
    assert welcome["verified"] and welcome["reset"] and welcome["resume"]
    # The anonymous chat came along, renumbered from 1 in the verified customer's transcript.
    await wait_for(lambda: len(signed_in.entries()) >= 2)
    assert signed_in.texts()[:2] == ["hi, anyone there?", "You said: hi, anyone there?"]
    await signed_in.say("so where is it?")
    await wait_for(lambda: "You said: so where is it?" in signed_in.texts(), timeout=15)
    turn = (await handled(store, 3))[2]
    assert turn["sender_id"] == whatsapp_customer  # the bot answers on the WhatsApp conversation
    assert await identity.canonical(anonymous) == whatsapp_customer
    assert await identity.resolve("webchat", "u.shop-42") == whatsapp_customer
    await signed_in.close()

    # Reconnecting uses the resume token (a site token is used once).
    resumed = await open_widget(bot, resume=welcome["resume"], after=len(signed_in.entries()))
    assert (await resumed.welcome())["verified"]
    await resumed.say("still me")
    await wait_for(lambda: "You said: still me" in resumed.texts(), timeout=15)
    assert (await handled(store, 4))[3]["sender_id"] == whatsapp_customer
    await resumed.close()

    # The visitor token of before the sign-in (a shared computer, signed out) starts anew.
    after_sign_out = await open_widget(bot, visitor=visitor, after=0)
    fresh = await after_sign_out.welcome()
    assert fresh["visitor"] and fresh["visitor"] != visitor and fresh["reset"]
    await after_sign_out.say("who am I?")
    await wait_for(lambda: "You said: who am I?" in after_sign_out.texts(), timeout=15)
    assert after_sign_out.texts() == ["who am I?", "You said: who am I?"]
    assert (await handled(store, 5))[4]["sender_id"] != whatsapp_customer
    await after_sign_out.close()
