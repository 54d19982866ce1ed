"""The order-status card the action makes (actions/rich.py), through the connectors in this
test's loop against the sandbox: an RBM standalone card, its SMS text when the phone has no
RCS, a Content API card through a Twilio Messaging Service, and plain SMS text without one."""
from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from connectors.sms import SmsInput
from connectors.webhook.records import ChannelRecords
from connectors.webhook.runtime import ChannelRuntime
from threadline.sandbox.config import sandbox_env
from tests.channels.helpers import sent
from tests.channels.test_rcs_output import CUSTOMER, rig  # noqa: F401  (the RBM fixture)
from tests.support.rcs import PHONE, rcs_sent
from tests.support.redis_server import free_port
from tests.support.sandbox import serve_sandbox

TEXT = "Your order TL-70315 (1 × Orbit Smartwatch) has shipped with Jadlog and should arrive by Friday."
ORDER_CARD = {"rcs": {"card": {"title": "Order TL-70315", "description": TEXT,
                               "buttons": [{"title": "Ask a person", "payload": "/request_human"}]}},
              "text": TEXT}  # as actions/rich.py makes it: the plain text is for the timeline only
SMS_TEXT = f"Order TL-70315 - {TEXT}\n\n1. Ask a person\n\nReply with a number."


async def test_the_order_card_by_rbm(rig):  # noqa: F811
    output, provider, _ = rig
    await output.send_custom_json(CUSTOMER, ORDER_CARD)
    [message] = rcs_sent(provider)
    card = message["body"]["contentMessage"]["richCard"]["standaloneCard"]["cardContent"]
    assert card == {"title": "Order TL-70315", "description": TEXT,
                    "suggestions": [{"reply": {"text": "Ask a person", "postbackData": "/request_human"}}]}


async def test_the_order_card_by_sms_when_the_phone_has_no_rcs(rig):  # noqa: F811
    output, provider, redis = rig
    provider.rbm.not_capable.add(PHONE)
    await output.send_custom_json(CUSTOMER, ORDER_CARD)
    assert [m["body"]["Body"] for m in sent(provider, "sms", PHONE)] == [SMS_TEXT]
    assert (await ChannelRecords(redis).current_offer(CUSTOMER)).chosen("sms", "1") == "/request_human"


@pytest.fixture
async def twilio(redis_url, tmp_path, monkeypatch):
    """The SMS connector and the sandbox; `service(True)` gives it a Messaging Service."""
    port = free_port()
    env = sandbox_env({}, port, free_port())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    redis = Redis.from_url(redis_url)
    runtime = ChannelRuntime(redis=redis, records=ChannelRecords(redis), resolver=None)
    async with serve_sandbox(env, port, receipts=False) as provider:
        def service(on: bool):
            if on:
                monkeypatch.setenv("TWILIO_MESSAGING_SERVICE_SID", "MG" + "1" * 32)
                provider.config.env["TWILIO_MESSAGING_SERVICE_SID"] = "MG" + "1" * 32
            return SmsInput.from_credentials(None).output_channel(PHONE, runtime)
        yield service, provider, redis
    await runtime.close()


async def test_the_order_card_through_a_twilio_messaging_service(twilio):
    service, provider, redis = twilio
    await service(True).send_custom_json(CUSTOMER, ORDER_CARD)
    [message] = sent(provider, "sms", PHONE)
    template = provider.twilio_rcs.contents[message["body"]["ContentSid"]]
    variables = json.loads(message["body"]["ContentVariables"])
    assert template["types"] == {
        "twilio/card": {"title": "{{1}}", "body": "{{2}}",
                        "actions": [{"type": "QUICK_REPLY", "title": "Ask a person", "id": "/request_human"}]},
        "twilio/text": {"body": "{{3}}"}}
    assert variables == {"1": "Order TL-70315", "2": TEXT, "3": SMS_TEXT}
    assert provider.conversations[("sms", PHONE)][-1]["cards"][0]["title"] == "Order TL-70315"
    assert await redis.hget(f"tl:out:msg:sms:{message['id']}", "content_sid") == message["body"]["ContentSid"].encode()


async def test_the_order_card_as_plain_sms_without_a_messaging_service(twilio):
    service, provider, _ = twilio
    await service(False).send_custom_json(CUSTOMER, ORDER_CARD)
    [message] = sent(provider, "sms", PHONE)
    assert message["body"]["Body"] == SMS_TEXT and "ContentSid" not in message["body"]
