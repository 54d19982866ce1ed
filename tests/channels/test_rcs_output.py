"""The RCS output channel against the sandbox's RBM and Twilio APIs, in this test's loop:
capability checks cached 24 h, SMS at once when RBM cannot reach the phone, TTL per kind."""
from __future__ import annotations

import pytest
from redis.asyncio import Redis

from connectors.rcs import RcsInput
from connectors.webhook.records import ChannelRecords
from connectors.webhook.runtime import ChannelRuntime
from threadline.sandbox.config import sandbox_env
from tests.channels.helpers import sent
from tests.support import rcs
from tests.support.rcs import PHONE, rcs_sent
from tests.support.redis_server import free_port
from tests.support.sandbox import serve_sandbox

CUSTOMER = "cus_rcs_output_test"


@pytest.fixture
async def rig(redis_url, tmp_path, monkeypatch):
    port = free_port()
    env = rcs.rcs_env(sandbox_env({}, port, free_port()), tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    channel = RcsInput.from_credentials(None)
    redis = Redis.from_url(redis_url)
    runtime = ChannelRuntime(redis=redis, records=ChannelRecords(redis), resolver=None)
    async with serve_sandbox(env, port, receipts=False) as provider:
        yield channel.output_channel(PHONE, runtime), provider, redis
    await runtime.close()


async def records(redis, channel):
    keys = sorted(await redis.keys(f"tl:out:msg:{channel}:*"))
    return [{k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()} for key in keys]


async def test_capability_is_checked_once_and_cached_for_24_hours(rig):
    output, provider, redis = rig
    await output.send_text_message(CUSTOMER, "one")
    await output.send_text_message(CUSTOMER, "two")
    assert provider.rbm.capability_checks == [PHONE]
    assert 86_000 < await redis.ttl(f"tl:rcs:capability:{PHONE}") <= 86_400
    assert [m["body"]["contentMessage"]["text"] for m in rcs_sent(provider)] == ["one", "two"]
    assert len(provider.rbm.tokens) == 1  # one OAuth token for both


async def test_a_phone_that_is_not_rcs_capable_gets_sms_at_once_and_stays_known(rig):
    output, provider, redis = rig
    provider.rbm.not_capable.add(PHONE)
    await output.send_text_message(CUSTOMER, "primeira")
    await output.send_text_message(CUSTOMER, "segunda")
    assert provider.rbm.capability_checks == [PHONE]  # the 404 is cached too
    assert rcs_sent(provider) == []
    assert [m["body"]["Body"] for m in sent(provider, "sms", PHONE)] == ["primeira", "segunda"]
    assert [(r["channel_used"], r["fallback_reason"]) for r in await records(redis, "rcs")] == [
        ("sms", "not_capable")] * 2


async def test_agent_not_launched_on_the_carrier_sends_by_sms(rig):
    output, provider, redis = rig
    provider.faults["rcs"].append((403, {"error": {"code": 403, "message": "Agent not launched",
                                                   "status": "PERMISSION_DENIED"}}, {}))
    await output.send_text_with_buttons(CUSTOMER, "Escolha:", [{"title": "Sim", "payload": "/affirm"},
                                                              {"title": "Não", "payload": "/deny"}])
    [sms] = sent(provider, "sms", PHONE)
    assert sms["body"]["Body"] == "Escolha:\n\n1. Sim\n2. Não\n\nReply with a number."
    assert rcs_sent(provider) == []
    [record] = await records(redis, "rcs")
    assert record["fallback_reason"] == "agent_not_launched" and record["sms_ids"] == sms["id"]
    offer = await ChannelRecords(redis).current_offer(CUSTOMER)
    assert offer.chosen("sms", "2") == "/deny"  # a reply "2" by SMS is the second suggestion


async def test_one_time_codes_live_10_minutes_answers_an_hour(rig):
    output, provider, _ = rig
    assert await output.send_text_now("", "Seu código: 123456")
    await output.send_text_message(CUSTOMER, "an answer")
    assert [m["body"]["ttl"] for m in rcs_sent(provider)] == ["600s", "3600s"]


async def test_a_standalone_card(rig):
    output, provider, _ = rig
    await output.send_custom_json(CUSTOMER, {"rcs": {"card": {
        "title": "Pedido 1234", "description": "Saiu para entrega", "image": "https://shop.example/box.png",
        "buttons": [{"title": "Falar com alguém", "payload": "/human_handoff"}]}}})
    [message] = rcs_sent(provider)
    card = message["body"]["contentMessage"]["richCard"]["standaloneCard"]["cardContent"]
    assert card["title"] == "Pedido 1234" and card["description"] == "Saiu para entrega"
    assert card["suggestions"] == [{"reply": {"text": "Falar com alguém", "postbackData": "/human_handoff"}}]


async def test_a_carousel_of_eleven_cards_is_not_sent(rig):
    output, provider, _ = rig
    cards = [{"title": f"P{n}", "description": "d"} for n in range(11)]
    await output.send_custom_json(CUSTOMER, {"rcs": {"carousel": cards}})
    assert rcs_sent(provider) == [] and sent(provider, "sms", PHONE) == []


async def test_fallback_to_an_opted_out_number_is_recorded_as_failed(rig):
    output, provider, redis = rig
    provider.rbm.not_capable.add(PHONE)
    await ChannelRecords(redis).set_opt_out("sms", PHONE, True)
    await output.send_text_message(CUSTOMER, "promo")
    assert sent(provider, "sms", PHONE) == []
    [(_, failure)] = await redis.xrange("tl:out:failed")
    assert failure[b"channel"] == b"rcs" and failure[b"code"] == b"sms_held"
