"""The trained assistant uses what the customer said on another channel, in a later session.

Runs the real trained model (models/threadline.tar.gz, built by `make train`) with an
in-memory tracker: the conversation is keyed by customer id, as the connectors do, and each
message comes from a different channel. The project's action server runs (its
`action_session_start` carries the slots over) with an empty CRM.
"""
from __future__ import annotations

from typing import List

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import ActionExecuted, SessionStarted

from tests.support.assistant import in_memory_agent
from tests.support.channel_output import ChannelOutput
from threadline.training import model_path

CUSTOMER = "cus_context_test"



@pytest.fixture(scope="module")
def agent(request, action_endpoint) -> Agent:
    if not model_path().is_file():
        pytest.skip("no trained model: run `make train` first (make test does)")
    return in_memory_agent(request.getfixturevalue("trained_processor"), action_endpoint)


async def say(agent: Agent, text: str, channel: str) -> List[str]:
    output = ChannelOutput(channel)
    await agent.handle_message(UserMessage(
        text, output, sender_id=CUSTOMER, input_channel=channel, metadata={"channel": channel}
    ))
    return [message.get("text", "") for message in output.messages]


async def test_order_number_from_whatsapp_is_used_by_email_in_a_new_session(agent):
    await say(agent, "hi, where is my order TL-48213? it should have arrived already", "whatsapp")
    tracker = await agent.tracker_store.retrieve(CUSTOMER)
    assert tracker.get_slot("order_id") == "TL-48213"

    await say(agent, "/session_start", "email")  # the session expired; the customer writes by email
    tracker = await agent.tracker_store.retrieve(CUSTOMER)
    assert any(isinstance(e, SessionStarted) for e in tracker.events)
    assert tracker.get_slot("order_id") == "TL-48213"

    replies = await say(agent, "Hello, I would like to cancel my order, please.", "email")
    tracker = await agent.tracker_store.retrieve(CUSTOMER)
    latest = [e.action_name for e in tracker.events if isinstance(e, ActionExecuted)][-4:]
    assert tracker.latest_message.intent["name"] == "cancel_order"
    assert "action_open_case" in latest
    assert not any("order number" in reply.lower() for reply in replies)


async def test_replies_use_the_variant_of_the_channel_in_use(agent):
    sms = await say(agent, "how long does delivery take?", "sms")
    whatsapp = await say(agent, "how long does delivery take?", "whatsapp")
    assert sms == ["Standard: 3-7 business days. Express: 1-2. Paid before 2pm = ships today."]
    assert whatsapp and whatsapp[0].startswith("*Delivery times*")
