"""The CRM in real conversations: the trained model, a real action server and the timeline
consumer process, with the project's Redis tracker and lock stores.

Messages enter through Rasa's agent (`Agent.handle_message`, what every connector calls)
with the metadata the channel connectors set; the provider webhooks themselves are tested
by the connector tests. Needs models/threadline.tar.gz (`make train`).
"""
from __future__ import annotations

import asyncio
from typing import List

import pytest
from rasa.core.agent import Agent
from rasa.core.channels import UserMessage
from sqlalchemy import func, select

from tests.support.assistant import assistant_on_redis
from tests.support.channel_output import ChannelOutput
from tests.support.crm_outage import crm_outage
from tests.support.processes import action_server, project_process
from tests.support.redis_server import free_port
from threadline.crm import Database
from threadline.crm.models import Case, Customer, Opportunity
from threadline.identity.services import IdentityServices

IGSID, PHONE_WA, PHONE_SMS = "17841400000000001", "5511987654321", "+5511987654321"



@pytest.fixture(scope="module")
def processor(trained_processor):
    return trained_processor


@pytest.fixture
def crm_processes(crm_url, redis_url, tmp_path, database):
    """The action server and the timeline consumer, as `make run` starts them."""
    timeline_port = free_port()
    env = {"CRM_DATABASE_URL": crm_url, "REDIS_URL": redis_url, "CRM_TIMELINE_PORT": str(timeline_port)}
    with action_server(env, tmp_path / "actions.log") as url, \
         project_process(["-m", "threadline.crm.timeline_worker"],
                         f"http://127.0.0.1:{timeline_port}/health", env, tmp_path / "timeline.log"):
        yield url


@pytest.fixture
async def assistant(processor, crm_processes, redis_url):
    async with assistant_on_redis(processor, redis_url, crm_processes) as agent:
        yield agent


@pytest.fixture
async def identities(crm_url, redis_url):
    services = IdentityServices(Database(crm_url), redis_url)
    yield services
    await services.close()


async def say(agent: Agent, identities, channel: str, address: str, text: str, message_id: str) -> List[str]:
    """What a connector does: resolve the address to the customer, hand the message to Rasa."""
    customer_id = await identities.resolver.resolve(channel, address)
    output = ChannelOutput(channel)
    await agent.handle_message(UserMessage(
        text, output, customer_id, input_channel=channel, message_id=message_id,
        metadata={"channel": channel, "address": address, "provider_message_id": message_id}))
    return [m.get("text", "") for m in output.messages]


async def wait_for_timeline(crm, customer_id: str, count: int, timeout: float = 60):
    for _ in range(int(timeout * 4)):
        timeline = await crm.crm.timeline(customer_id)
        if len(timeline) >= count:
            return timeline
        await asyncio.sleep(0.25)
    return await crm.crm.timeline(customer_id)


def counted(database, model) -> int:
    return database.transaction(lambda s: s.scalar(select(func.count()).select_from(model)))


async def test_product_on_instagram_order_on_whatsapp_where_is_it_by_sms(assistant, identities, crm, database):
    customer = await identities.resolver.resolve("instagram", IGSID)
    # The customer proved on Instagram that the phone is theirs (identity claims, issue 7).
    await identities.link()(customer, "whatsapp", PHONE_WA, actor="verified-claim", reason="code confirmed")

    on_instagram = await say(assistant, identities, "instagram", IGSID,
                             "how much do the Drift Running Shoes cost?", "ig-1")
    assert any("Drift Running Shoes costs BRL 499.00" in text for text in on_instagram), on_instagram
    on_whatsapp = await say(assistant, identities, "whatsapp", PHONE_WA, "my order number is TL-48213", "wamid-1")
    assert any("TL-48213" in text for text in on_whatsapp), on_whatsapp
    by_sms = await say(assistant, identities, "sms", PHONE_SMS, "where is it?", "SM1")

    assert await identities.resolver.resolve("sms", PHONE_SMS) == customer
    answer = " ".join(by_sms)
    assert "Your order TL-48213 (1 × Drift Running Shoes) has shipped with Correios; it was due on" in answer, by_sms
    assert "so it is late. I've opened case #" in answer
    assert "order number" not in answer.lower()  # it did not ask again

    assert counted(database, Customer) == 1
    assert counted(database, Opportunity) == 1 and counted(database, Case) == 1
    [case] = database.transaction(lambda s: s.scalars(select(Case)).all())
    assert (case.customer_id, case.order_id, case.topic, case.channel) == (customer, "TL-48213", "late_order", "sms")
    messages = 2 + len(on_instagram) + len(on_whatsapp) + len(by_sms) + 1
    timeline = await wait_for_timeline(crm, customer, messages)
    customer_turns = [(r.channel, r.text) for r in timeline if r.author == "customer"]
    assert customer_turns == [("instagram", "how much do the Drift Running Shoes cost?"),
                              ("whatsapp", "my order number is TL-48213"), ("sms", "where is it?")]
    assert {r.channel for r in timeline if r.author == "bot"} == {"instagram", "whatsapp", "sms"}
    assert [r.text for r in timeline if r.author == "bot" and r.channel == "sms"] == by_sms
    assert len(timeline) == len({r.idempotency_key for r in timeline}) == messages


async def test_crm_database_down_mid_conversation_replies_go_out_timeline_catches_up(
        assistant, identities, crm, database, crm_url):
    customer = await identities.resolver.resolve("whatsapp", PHONE_WA)
    sent = {}
    sent["before"] = await say(assistant, identities, "whatsapp", PHONE_WA, "hello", "wamid-1")
    await wait_for_timeline(crm, customer, 1 + len(sent["before"]))
    with crm_outage(crm_url):
        sent["during-1"] = await say(assistant, identities, "whatsapp", PHONE_WA, "are you a bot?", "wamid-2")
        sent["during-2"] = await say(assistant, identities, "whatsapp", PHONE_WA, "where is my order TL-48213?", "wamid-3")
        await asyncio.sleep(2)  # the consumer tries, fails, backs off
    assert all(sent.values()), sent  # every message got its reply
    assert any("can't look that up right now" in text for text in sent["during-2"]), sent["during-2"]
    expected = 3 + sum(len(replies) for replies in sent.values())
    timeline = await wait_for_timeline(crm, customer, expected)
    assert [r.text for r in timeline if r.author == "customer"] == ["hello", "are you a bot?", "where is my order TL-48213?"]
    assert [r.text for r in timeline if r.author == "bot"] == [t for k in ("before", "during-1", "during-2") for t in sent[k]]
    assert len(timeline) == expected


async def test_returning_customer_is_greeted_with_what_they_asked_on_another_channel(assistant, identities):
    customer = await identities.resolver.resolve("instagram", IGSID)
    await identities.link()(customer, "sms", PHONE_SMS, actor="verified-claim", reason="code confirmed")
    await say(assistant, identities, "instagram", IGSID, "how much do the Drift Running Shoes cost?", "ig-1")
    # Two hours later (the session has expired), the customer writes by SMS.
    store = assistant.processor.tracker_store  # ours, not Rasa's fail-safe wrapper
    events = [{**e, "timestamp": e["timestamp"] - 7200} for e in await store.read_history(customer)]
    await store.rewrite_history(customer, events)
    by_sms = await say(assistant, identities, "sms", PHONE_SMS, "hello", "SM7")
    assert by_sms[0] == ("Welcome back! Last time, on Instagram, you asked about the Drift Running Shoes. "
                         "It's in stock, at BRL 499.00."), by_sms
    tracker = await store.retrieve(customer)
    assert tracker.get_slot("product") == "Drift Running Shoes"
