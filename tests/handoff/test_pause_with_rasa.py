"""The bot stays silent while a person has the conversation, also after the session expires,
and answers again once the handoff is handed back (ResumeBot through Rasa's HTTP API).

The trained model, a real action server and the project's Redis tracker and lock stores;
messages enter through Rasa's agent as the connectors hand them over, and `ResumeBot` calls
the real Rasa HTTP API (`rasa.server.create_app`) served on a local port. Needs
models/threadline.tar.gz (`make train`).
"""
from __future__ import annotations

import pytest
from rasa.core.agent import Agent
from rasa.server import create_app
from sanic import Sanic

from tests.crm.test_conversation_with_rasa import (  # noqa: F401  (shared fixtures)
    PHONE_SMS, PHONE_WA, crm_processes, identities, processor, say, wait_for_timeline,
)
from tests.support.assistant import assistant_on_redis
from tests.support.redis_server import free_port
from threadline.crm.models import Handoff
from threadline.handoff.rasa_api import RasaApi
from threadline.handoff.resume import ResumeBot
from threadline.handoff.store import open_handoff_for, open_handoffs

TOKEN = "test-token"


@pytest.fixture
async def assistant(processor, crm_processes, redis_url, monkeypatch):  # noqa: F811
    """The agent, with Rasa's HTTP API served for it on a free port."""
    monkeypatch.setattr(Sanic, "test_mode", True)  # several Sanic apps in one test process
    async with assistant_on_redis(processor, redis_url, crm_processes) as agent:
        app = create_app(agent=agent, auth_token=TOKEN)
        port = free_port()
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        await server.startup()
        await server.after_start()
        yield agent, RasaApi(f"http://127.0.0.1:{port}", TOKEN)
        await server.before_stop()
        await server.close()


async def expire_session(agent: Agent, customer: str) -> None:
    """Move the whole conversation two hours back: the next message starts a new session."""
    store = agent.processor.tracker_store
    events = [{**e, "timestamp": e["timestamp"] - 7200} for e in await store.read_history(customer)]
    await store.rewrite_history(customer, events)


async def test_paused_while_a_person_has_it_even_after_the_session_expires_then_resumed(
        assistant, identities, crm, database):
    agent, rasa_api = assistant
    customer = await identities.resolver.resolve("whatsapp", PHONE_WA)
    await identities.link()(customer, "sms", PHONE_SMS, actor="verified-claim", reason="code confirmed")
    # An open lead: a returning customer would be greeted with it, unless a person has them.
    asked = await say(agent, identities, "whatsapp", PHONE_WA, "how much do the Drift Running Shoes cost?", "w1")
    assert any("Drift Running Shoes costs" in text for text in asked), asked

    escalated = await say(agent, identities, "whatsapp", PHONE_WA,
                          "I'm going to file a chargeback with my bank", "w2")
    assert escalated == ["I'm passing you to a colleague now. They can see everything we've talked about, "
                         "on every channel, so you won't need to repeat anything, and they'll reply right here."]
    [handoff] = await open_handoffs(database)
    assert (handoff.customer_id, handoff.reason, handoff.priority, handoff.channel) == (
        customer, "sensitive_topic", 1, "whatsapp")
    assert "chargeback" in handoff.summary_text

    assert await say(agent, identities, "whatsapp", PHONE_WA, "hello? where is my order TL-48213?", "w3") == []
    # The timeline must have what was said before the clock is moved back, as it would in real time.
    await wait_for_timeline(crm, customer, 3 + len(asked) + len(escalated))
    await expire_session(agent, customer)
    assert await say(agent, identities, "sms", PHONE_SMS, "hi, anyone there?", "s1") == []  # no "Welcome back"
    assert await say(agent, identities, "sms", PHONE_SMS, "hello??", "s2") == []

    assert (await agent.processor.tracker_store.retrieve(customer)).is_paused()
    history = await agent.processor.tracker_store.read_history(customer)  # every session
    said = [e["text"] for e in history if e["event"] == "user"]
    assert said[-3:] == ["hello? where is my order TL-48213?", "hi, anyone there?", "hello??"]  # logged for the agent
    assert [e["event"] for e in history].count("session_started") == 2
    # ... and they reach the CRM timeline, where the agent console reads them.
    timeline = await wait_for_timeline(crm, customer, 5 + len(asked) + len(escalated))
    assert [(r.channel, r.text) for r in timeline if r.author == "customer"][-3:] == [
        ("whatsapp", "hello? where is my order TL-48213?"), ("sms", "hi, anyone there?"), ("sms", "hello??")]

    # The agent hands back: the handoff is resolved (console) and the bot resumed through the API.
    def hand_back(session):
        session.get(Handoff, handoff.id).status = "resolved"

    database.transaction(hand_back)
    assert await open_handoff_for(database, customer) is None
    await ResumeBot(rasa_api)(customer)
    answer = await say(agent, identities, "sms", PHONE_SMS, "where is my order TL-48213?", "s3")
    assert any("TL-48213" in text for text in answer), answer


async def test_two_messages_in_a_row_not_understood_go_to_a_person(assistant, identities, database):
    agent, _ = assistant
    customer = await identities.resolver.resolve("whatsapp", PHONE_WA)
    first = await say(agent, identities, "whatsapp", PHONE_WA, "purple monkey dishwasher", "w1")
    assert first and "passing you to a colleague" not in " ".join(first)  # the bot asks first
    assert await open_handoffs(database) == []
    second = await say(agent, identities, "whatsapp", PHONE_WA, "flibbertigibbet", "w2")
    assert second == ["I'm passing you to a colleague now. They can see everything we've talked about, "
                      "on every channel, so you won't need to repeat anything, and they'll reply right here."]
    [handoff] = await open_handoffs(database)
    assert (handoff.customer_id, handoff.reason, handoff.priority) == (customer, "not_understood", 3)
    assert await say(agent, identities, "whatsapp", PHONE_WA, "hello?", "w3") == []
