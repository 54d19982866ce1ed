"""RCS through Google RBM, with SMS as the fallback: the scripted stack (real connectors, real
identity resolver, real Redis) against the sandbox speaking RBM's and Twilio's wire formats."""
from __future__ import annotations

import asyncio
import json

import pytest

from threadline.sandbox import payloads as p
from tests.channels.conftest import post
from tests.channels.helpers import handled, sent, settle
from tests.support import rcs
from tests.support.rcs import PHONE, rcs_sent
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def channel_env(channel_env, tmp_path_factory):
    return rcs.rcs_env(channel_env, tmp_path_factory.mktemp("rbm"))


@pytest.fixture
async def rcs_bot(bot):
    await rcs.wait_until_rcs_ready(bot)
    return bot


def url(bot):
    return f"{bot.base}/rcs/webhook"


def sms_delivery(env, body):
    params = p.twilio_inbound(env["TWILIO_ACCOUNT_SID"], PHONE, env["TWILIO_FROM_NUMBER"], body)
    return p.twilio_delivery(env["TWILIO_AUTH_TOKEN"], env["TWILIO_WEBHOOK_URL"], params)


async def record(store, message_id):
    return {k.decode(): v.decode() for k, v in (await store.hgetall(f"tl:out:msg:rcs:{message_id}")).items()}


async def test_text_answered_by_rcs_with_a_ttl_and_receipts(rcs_bot, sandbox, store, channel_env):
    assert await post(url(rcs_bot), rcs.message(channel_env, "Não recebi minha fatura")) == 200
    [event] = await handled(store)
    assert event["text"] == "Não recebi minha fatura" and event["input_channel"] == "rcs"
    assert event["metadata"]["address"] == PHONE
    [reply] = await wait_for(lambda: rcs_sent(sandbox))
    assert reply["body"] == {"contentMessage": {"text": "You said: Não recebi minha fatura"}, "ttl": "3600s"}
    assert sent(sandbox, "sms", PHONE) == []
    # The phone's DELIVERED then READ events reach the message's record.
    assert await wait_for(lambda: _status_is(store, reply["id"], "read"))
    saved = await record(store, reply["id"])
    assert saved["channel_used"] == "rcs" and "fallback_reason" not in saved
    # The customer's message was marked read (RBM agent event) before the answer.
    assert sandbox.rbm.agent_events[0]["eventType"] == "READ"
    assert sandbox.rbm.agent_events[0]["messageId"] == event["message_id"]


async def _status_is(store, message_id, status):
    return (await store.hget(f"tl:out:msg:rcs:{message_id}", "status")) == status.encode()


async def test_suggested_replies_and_a_tap_reaches_the_bot_as_the_payload(rcs_bot, sandbox, store, channel_env):
    await post(url(rcs_bot), rcs.message(channel_env, "menu 3"))
    [reply] = await wait_for(lambda: rcs_sent(sandbox))
    suggestions = reply["body"]["contentMessage"]["suggestions"]
    assert [s["reply"]["text"] for s in suggestions] == ["Option 1", "Option 2", "Option 3"]
    assert suggestions[1]["reply"]["postbackData"] == '/choose{"n":2}'
    await post(url(rcs_bot), rcs.message(channel_env, postback='/choose{"n":2}'))
    assert (await handled(store, 2))[1]["text"] == '/choose{"n":2}'


async def test_carousel_of_three_cards(rcs_bot, sandbox, store, channel_env):
    await post(url(rcs_bot), rcs.message(channel_env, "carousel 3"))
    [reply] = await wait_for(lambda: rcs_sent(sandbox))
    cards = reply["body"]["contentMessage"]["richCard"]["carouselCard"]["cardContents"]
    assert [c["title"] for c in cards] == ["Product 1", "Product 2", "Product 3"]
    assert cards[2]["media"]["contentInfo"]["fileUrl"] == "https://shop.example/3.jpg"
    assert [s["reply"]["text"] for s in cards[0]["suggestions"]] == ["Buy", "Ask a person"]
    # A tap on a card's suggestion is one of the current offer's payloads: it reaches the bot.
    await post(url(rcs_bot), rcs.message(channel_env, postback='/buy{"n":3}'))
    assert (await handled(store, 2))[1]["text"] == '/buy{"n":3}'


async def test_not_capable_phone_gets_the_carousel_by_sms_once_and_a_digit_picks_the_payload(
        rcs_bot, sandbox, store, channel_env, identity):
    sandbox.rbm.not_capable.add(PHONE)  # RBM answers 404 to this phone
    await post(url(rcs_bot), rcs.message(channel_env, "carousel 2"))
    [first] = await handled(store)
    [text] = [m["body"]["Body"] for m in await wait_for(lambda: sent(sandbox, "sms", PHONE))]
    assert text == ("Our products:\n- Product 1 - R$ 10,00\n- Product 2 - R$ 20,00\n\n"
                    "1. Product 1: Buy\n2. Product 1: Ask a person\n3. Product 2: Buy\n4. Product 2: Ask a person\n\n"
                    "Reply with a number.")
    await asyncio.sleep(0.5)
    assert len(sent(sandbox, "sms", PHONE)) == 1 and rcs_sent(sandbox) == []  # by SMS, once
    [(key, fields)] = [(k, await store.hgetall(k)) for k in await store.keys("tl:out:msg:rcs:*")]
    assert fields[b"channel_used"] == b"sms" and fields[b"fallback_reason"] == b"not_capable"
    # The customer answers the SMS: same customer, and "3" means the third option's payload.
    await post(f"{rcs_bot.base}/sms/webhook", sms_delivery(channel_env, "3"))
    second = (await handled(store, 2))[1]
    assert second["input_channel"] == "sms" and second["text"] == '/buy{"n":2}'
    assert second["sender_id"] == first["sender_id"]
    assert await identity.resolve("sms", PHONE) == await identity.resolve("rcs", PHONE) == first["sender_id"]


async def test_rcs_and_sms_from_one_number_are_one_customer_each_answered_on_its_channel(
        rcs_bot, sandbox, store, channel_env):
    await post(f"{rcs_bot.base}/sms/webhook", sms_delivery(channel_env, "primeira por SMS"))
    await handled(store)
    await post(url(rcs_bot), rcs.message(channel_env, "depois por RCS"))
    by_sms, by_rcs = await handled(store, 2)
    assert by_sms["sender_id"] == by_rcs["sender_id"] and by_sms["sender_id"].startswith("cus_")
    assert (await wait_for(lambda: sent(sandbox, "sms", PHONE)))[0]["body"]["Body"] == "You said: primeira por SMS"
    assert (await wait_for(lambda: rcs_sent(sandbox)))[0]["body"]["contentMessage"]["text"] == "You said: depois por RCS"


async def test_expired_undelivered_message_goes_by_sms_once(rcs_bot, sandbox, store, channel_env):
    sandbox.rbm.offline.add(PHONE)  # the phone is off: RBM holds the message
    await post(url(rcs_bot), rcs.message(channel_env, "onde está meu pedido?"))
    [reply] = await wait_for(lambda: rcs_sent(sandbox))
    await asyncio.sleep(0.3)
    assert sent(sandbox, "sms", PHONE) == [] and reply["id"] in sandbox.rbm.pending
    # The TTL runs out: RBM revokes it and tells the webhook, which Pub/Sub may deliver twice.
    sandbox.rbm.pending.pop(reply["id"])
    expired = sandbox.rbm.delivery(p.rbm_server_event(channel_env["RBM_AGENT_ID"], PHONE,
                                                      "TTL_EXPIRATION_REVOKED", reply["id"]))
    assert [await post(url(rcs_bot), expired) for _ in range(2)] == [200, 200]
    [sms] = await wait_for(lambda: sent(sandbox, "sms", PHONE))
    assert sms["body"]["Body"] == "You said: onde está meu pedido?"
    await asyncio.sleep(0.5)
    assert len(sent(sandbox, "sms", PHONE)) == 1
    saved = await record(store, reply["id"])
    assert saved["channel_used"] == "sms" and saved["fallback_reason"] == "ttl_expired"
    assert saved["status"] == "ttl_expiration_revoked" and saved["fallback_sms"] == sms["id"]


async def test_expiry_whose_revocation_failed_sends_no_sms(rcs_bot, sandbox, store, channel_env):
    sandbox.rbm.offline.add(PHONE)
    await post(url(rcs_bot), rcs.message(channel_env, "oi"))
    [reply] = await wait_for(lambda: rcs_sent(sandbox))
    failed = sandbox.rbm.delivery(p.rbm_server_event(channel_env["RBM_AGENT_ID"], PHONE,
                                                     "TTL_EXPIRATION_REVOKE_FAILED", reply["id"]))
    assert await post(url(rcs_bot), failed) == 200
    assert await wait_for(lambda: _status_is(store, reply["id"], "ttl_expiration_revoke_failed"))
    await asyncio.sleep(0.3)
    assert sent(sandbox, "sms", PHONE) == []  # it may still arrive: never two copies


async def test_typing_is_recorded_and_not_answered(rcs_bot, sandbox, store, channel_env, identity):
    await post(url(rcs_bot), rcs.message(channel_env, "hi"))
    await handled(store)
    typing = sandbox.rbm.delivery(p.rbm_user_event(channel_env["RBM_AGENT_ID"], PHONE, "IS_TYPING"))
    assert await post(url(rcs_bot), typing) == 200
    from tests.channels.helpers import activity
    events = await wait_for(lambda: activity(identity, store, "rcs", PHONE))
    assert [e.kind for e in events] == ["typing"]
    assert len(await settle(store, 0.3)) == 1


async def test_the_simulator_speaks_rbm(rcs_bot, sandbox, store, channel_env):
    answer = await sandbox.post_webhook(*sandbox.build_inbound("rcs", PHONE, {"text": "pelo simulador"})[:2])
    assert answer == 200
    assert (await handled(store))[0]["text"] == "pelo simulador"
    assert (await wait_for(lambda: rcs_sent(sandbox)))[0]["body"]["contentMessage"]["text"] == "You said: pelo simulador"
    assert json.loads(json.dumps(sandbox.conversations[("rcs", PHONE)]))[-1]["text"] == "You said: pelo simulador"


async def test_the_simulator_page_offers_an_rcs_phone_with_a_not_capable_switch(rcs_bot, sandbox, store, channel_env):
    from tests.channels.test_simulator import simulator
    status, page = await simulator(channel_env, "GET", "/")
    assert status == 200 and "not RCS capable" in page
    say = {"channel": "rcs", "address": PHONE, "name": "Ana"}
    status, answer = await simulator(channel_env, "POST", "/sandbox/inbound", json={**say, "text": "menu 2"})
    assert (status, answer["webhook_status"]) == (200, 200)
    [offered] = await wait_for(lambda: rcs_sent(sandbox))
    assert sandbox.conversations[("rcs", PHONE)][-1]["buttons"] == ["Option 1", "Option 2"]
    # The person flips the switch: RBM now answers 404 for the phone, and the answer to a
    # message still in flight from it comes by SMS, numbered.
    status, switched = await simulator(channel_env, "POST", "/sandbox/rcs", json={"address": PHONE, "capable": False})
    assert status == 200 and switched["capable"] is False
    await post(url(rcs_bot), rcs.message(channel_env, "menu 2"))
    [by_sms] = await wait_for(lambda: sent(sandbox, "sms", PHONE))
    assert len(rcs_sent(sandbox)) == 1
    assert "1. Option 1\n2. Option 2" in by_sms["body"]["Body"]
    # Offline with a waiting RCS message: "expire" makes RBM revoke it, and it comes by SMS.
    await simulator(channel_env, "POST", "/sandbox/rcs", json={"address": PHONE, "capable": True, "online": False})
    await post(url(rcs_bot), rcs.message(channel_env, "ainda aí?"))
    await wait_for(lambda: len(rcs_sent(sandbox)) == 2)
    status, expired = await simulator(channel_env, "POST", "/sandbox/rcs", json={"address": PHONE, "expire": True})
    assert expired["expired"] == 1
    texts = await wait_for(lambda: [m["body"]["Body"] for m in sent(sandbox, "sms", PHONE)][1:])
    assert texts == ["You said: ainda aí?"]
