"""The real Rasa server with credentials.yml, endpoints.yml (Redis tracker and lock stores)
and the trained model, behind the real connectors; the sandbox plays Meta and Twilio."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest

from threadline.sandbox import payloads as p
from tests.channels.conftest import post
from tests.support.outbound import customer_of_our_message
from tests.support.waiting import wait_for
from tests.support.sandbox import serve_sandbox
from tests.channels.helpers import sent

pytestmark = pytest.mark.slow
WA_ID, PHONE = "5511944440001", "+5511944440001"  # first contacts: no other file writes from these


@pytest.fixture(scope="module")
def stack(assistant_stack):
    """The session's assistant (tests/support/assistant_stack.py); these customers are this file's own."""
    return assistant_stack


@pytest.fixture
async def provider(stack):
    async with serve_sandbox(stack.env, stack.sandbox_port) as sandbox:
        yield sandbox


async def tracker(stack, customer_id):
    async with aiohttp.ClientSession() as session:
        url = f"{stack.base}/conversations/{customer_id}/tracker?token={stack.token}"
        async with session.get(url) as response:
            return await response.json()


async def test_whatsapp_delivered_three_times_is_one_user_event_and_one_reply(stack, provider):
    env = stack.env
    message = p.whatsapp_message("text", WA_ID, {"body": "hey there"})
    envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], [message], contacts=[p.whatsapp_contact(WA_ID, "Ana")])
    delivery = p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope)
    url = f"{stack.base}/webhooks/whatsapp/webhook"
    assert await asyncio.gather(*(post(url, delivery) for _ in range(2))) == [200, 200]
    assert await post(url, delivery) == 200
    [reply] = await wait_for(lambda: sent(provider, "whatsapp", WA_ID), timeout=30)
    assert reply["body"]["text"]["body"].startswith("Hi! 👋 I'm Threadline's assistant")  # WhatsApp variant
    await asyncio.sleep(2)
    assert len(sent(provider, "whatsapp", WA_ID)) == 1
    customer_id = await wait_for(lambda: customer_of_our_message(stack.env["REDIS_URL"], "whatsapp", reply["id"]))
    events = (await tracker(stack, customer_id))["events"]
    users = [e for e in events if e["event"] == "user"]
    assert len(users) == 1 and users[0]["message_id"] == message["id"]
    assert users[0]["metadata"]["address"] == WA_ID and users[0]["input_channel"] == "whatsapp"


async def test_agent_message_through_the_http_api_reaches_the_customers_whatsapp(stack, provider):
    env = stack.env
    envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], [p.whatsapp_message("text", WA_ID, {"body": "thanks"})],
                                   contacts=[p.whatsapp_contact(WA_ID, "Ana")])
    await post(f"{stack.base}/webhooks/whatsapp/webhook", p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope))
    [bot_reply] = await wait_for(lambda: sent(provider, "whatsapp", WA_ID), timeout=30)
    customer_id = await wait_for(lambda: customer_of_our_message(stack.env["REDIS_URL"], "whatsapp", bot_reply["id"]))
    url = (f"{stack.base}/conversations/{customer_id}/tracker/events?token={stack.token}"
           f"&execute_side_effects=true&output_channel=whatsapp")
    async with aiohttp.ClientSession() as session:
        event = {"event": "bot", "text": "Hi Ana, this is Bruno from support.", "metadata": {"sent_by": "agent"}}
        async with session.post(url, json=event) as response:
            assert response.status == 200
    messages = await wait_for(lambda: len(sent(provider, "whatsapp", WA_ID)) >= 2 and sent(provider, "whatsapp", WA_ID))
    assert messages[1]["body"]["text"]["body"] == "Hi Ana, this is Bruno from support."


async def test_sms_photo_gets_the_sms_response_variant(stack, provider):
    env = stack.env
    params = p.twilio_inbound(env["TWILIO_ACCOUNT_SID"], PHONE, env["TWILIO_FROM_NUMBER"], "",
                              [("https://api.twilio.com/Media/ME1", "image/jpeg")])
    assert await post(f"{stack.base}/webhooks/sms/webhook",
                      p.twilio_delivery(env["TWILIO_AUTH_TOKEN"], env["TWILIO_WEBHOOK_URL"], params)) == 200
    [reply] = await wait_for(lambda: sent(provider, "sms", PHONE), timeout=30)
    assert reply["body"]["Body"] == "Thanks, got it. Tell me in a few words what it is about."
