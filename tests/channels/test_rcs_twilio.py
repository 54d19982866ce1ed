"""RCS through Twilio: a Messaging Service with an RCS sender. The scripted stack (real SMS
connector, real identity resolver, real Redis) against the sandbox speaking Twilio's Messages
API with MessagingServiceSid, the Content API and signed status callbacks."""
from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from threadline.sandbox import payloads as p
from tests.channels.conftest import post
from tests.channels.helpers import handled, sent
from tests.support.rcs import PHONE
from tests.support.waiting import wait_for

SERVICE = "MG" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def channel_env(channel_env):
    return {**channel_env, "TWILIO_MESSAGING_SERVICE_SID": SERVICE}


def url(bot):
    return f"{bot.base}/sms/webhook"


def by_rcs(env, body="", *, button=None, title=None, sid=""):
    """What Twilio posts when the customer writes (or taps a button) by RCS."""
    params = p.twilio_inbound(env["TWILIO_ACCOUNT_SID"], f"rcs:{PHONE}", f"rcs:{SERVICE}", title or body, sid=sid)
    params["MessagingServiceSid"] = SERVICE
    if button:
        params.update(ButtonPayload=button, ButtonText=title or button, MessageType="button")
    return params


def signed(env, params):
    return p.twilio_delivery(env["TWILIO_AUTH_TOKEN"], env["TWILIO_WEBHOOK_URL"], params)


async def _status(store, key, status):
    return (await store.hget(key, "status")) == status


async def test_rcs_message_is_answered_through_the_messaging_service(bot, sandbox, store, channel_env, identity):
    assert await post(url(bot), signed(channel_env, by_rcs(channel_env, "Olá pelo RCS"))) == 200
    [event] = await handled(store)
    assert event["text"] == "Olá pelo RCS" and event["metadata"]["address"] == PHONE
    [reply] = await wait_for(lambda: sent(sandbox, "sms", PHONE))
    assert reply["body"]["MessagingServiceSid"] == SERVICE and "From" not in reply["body"]
    assert reply["body"]["Body"] == "You said: Olá pelo RCS"
    assert sandbox.conversations[("sms", PHONE)][-1]["transport"] == "rcs"
    # Twilio's callbacks name the phone rcs:+55…; the message's record follows them to "read".
    assert await wait_for(lambda: _status(store, f"tl:out:msg:sms:{reply['id']}", b"read"))
    # The same number by plain SMS is the same customer.
    plain = p.twilio_inbound(channel_env["TWILIO_ACCOUNT_SID"], PHONE, channel_env["TWILIO_FROM_NUMBER"], "e por SMS")
    assert await post(url(bot), signed(channel_env, plain)) == 200
    first, second = await handled(store, 2)
    assert first["sender_id"] == second["sender_id"] == await identity.resolve("sms", PHONE)


async def test_wrongly_signed_rcs_webhook_is_refused(bot, sandbox, store, channel_env):
    params = by_rcs(channel_env, "forjada")
    forged = p.twilio_delivery("not-the-auth-token", channel_env["TWILIO_WEBHOOK_URL"], params)
    assert await post(url(bot), forged) == 403
    unsigned = p.Delivery(forged.body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert await post(url(bot), unsigned) == 401
    signed_elsewhere = p.twilio_delivery(channel_env["TWILIO_AUTH_TOKEN"], "https://elsewhere.example/sms", params)
    assert await post(url(bot), signed_elsewhere) == 403
    await asyncio.sleep(0.5)
    assert await store.llen("test:handled") == 0 and sent(sandbox, "sms", PHONE) == []


async def test_carousel_goes_as_a_content_template_and_a_tap_reaches_the_bot(bot, sandbox, store, channel_env):
    await post(url(bot), signed(channel_env, by_rcs(channel_env, "carousel 2")))
    [reply] = await wait_for(lambda: sent(sandbox, "sms", PHONE))
    form = reply["body"]
    assert form["MessagingServiceSid"] == SERVICE and "Body" not in form
    template = sandbox.twilio_rcs.contents[form["ContentSid"]]
    cards = template["types"]["twilio/carousel"]["cards"]
    assert [c["actions"] for c in cards] == [
        [{"type": "QUICK_REPLY", "title": "Buy", "id": '/buy{"n":1}'},
         {"type": "QUICK_REPLY", "title": "Ask a person", "id": "/human_handoff"}],
        [{"type": "QUICK_REPLY", "title": "Buy", "id": '/buy{"n":2}'},
         {"type": "QUICK_REPLY", "title": "Ask a person", "id": "/human_handoff"}]]
    assert cards[1]["media"] == "https://shop.example/{{6}}"
    variables = json.loads(form["ContentVariables"])
    assert variables["6"] == "2.jpg" and variables["4"] == "Product 2"
    # The customer's phone shows the cards, the same texts the bot wrote.
    shown = sandbox.conversations[("sms", PHONE)][-1]
    assert [c["title"] for c in shown["cards"]] == ["Product 1", "Product 2"]
    assert shown["cards"][1]["image"] == "https://shop.example/2.jpg"
    # The template also carries the SMS text Twilio sends where RCS cannot go.
    assert variables[template["types"]["twilio/text"]["body"].strip("{}")] == (
        "Our products:\n- Product 1 - R$ 10,00\n- Product 2 - R$ 20,00\n\n"
        "1. Product 1: Buy\n2. Product 1: Ask a person\n3. Product 2: Buy\n4. Product 2: Ask a person\n\n"
        "Reply with a number.")
    # A tap comes back as ButtonPayload: one of the offer's payloads, so it reaches the bot.
    await post(url(bot), signed(channel_env, by_rcs(channel_env, button='/buy{"n":2}', title="Buy")))
    assert (await handled(store, 2))[1]["text"] == '/buy{"n":2}'
    # A second carousel of the same shape reuses the template.
    await post(url(bot), signed(channel_env, by_rcs(channel_env, "carousel 2")))
    await wait_for(lambda: len(sent(sandbox, "sms", PHONE)) >= 3)
    assert len(sandbox.twilio_rcs.contents) == 1


async def test_phone_without_rcs_gets_the_templates_sms_text_and_a_digit_picks_the_payload(
        bot, sandbox, store, channel_env):
    sandbox.rbm.not_capable.add(PHONE)  # Twilio finds the phone not RCS capable: it sends the twilio/text
    plain = p.twilio_inbound(channel_env["TWILIO_ACCOUNT_SID"], PHONE, channel_env["TWILIO_FROM_NUMBER"], "card")
    await post(url(bot), signed(channel_env, plain))
    [reply] = await wait_for(lambda: sent(sandbox, "sms", PHONE))
    shown = sandbox.conversations[("sms", PHONE)][-1]
    assert shown["transport"] == "sms"
    assert shown["text"] == "Product 1 - R$ 10,00\n\n1. Buy\n2. Ask a person\n\nReply with a number."
    key = f"tl:out:msg:sms:{reply['id']}"
    assert await wait_for(lambda: _status(store, key, b"delivered"))
    await post(url(bot), signed(channel_env, p.twilio_inbound(
        channel_env["TWILIO_ACCOUNT_SID"], PHONE, channel_env["TWILIO_FROM_NUMBER"], "1")))
    assert (await handled(store, 2))[1]["text"] == '/buy{"n":1}'


async def test_the_simulator_writes_by_twilio_rcs_and_taps_a_card(bot, sandbox, store, channel_env):
    from tests.channels.test_simulator import simulator
    status, page = await simulator(channel_env, "GET", "/")
    assert status == 200 and "by RCS (Twilio Messaging Service)" in page
    assert (await simulator(channel_env, "GET", "/sandbox/config"))[1]["twilio_rcs"] is True
    say = {"channel": "sms", "address": PHONE, "name": "Ana", "rcs": True}
    status, answer = await simulator(channel_env, "POST", "/sandbox/inbound", json={**say, "text": "card"})
    assert (status, answer["webhook_status"]) == (200, 200)
    [event] = await handled(store)
    assert event["metadata"]["address"] == PHONE and event["metadata"]["details"]["transport"] == "rcs"
    await wait_for(lambda: sent(sandbox, "sms", PHONE))
    shown = sandbox.conversations[("sms", PHONE)][-1]
    assert shown["buttons"] == ["Buy", "Ask a person"] and shown["transport"] == "rcs"
    await simulator(channel_env, "POST", "/sandbox/inbound", json={**say, "payload": shown["payloads"][0], "title": "Buy"})
    assert (await handled(store, 2))[1]["text"] == '/buy{"n":1}'
