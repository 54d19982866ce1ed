"""The timeline consumer: tracker store log → CRM interactions, asynchronously and idempotently."""
from __future__ import annotations


import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tests.support.conversations import DOMAIN
from tests.support.crm_outage import crm_outage
from threadline.crm.interface import CrmUnavailable
from threadline.crm.timeline_worker import CURSOR_KEY, TimelineWorker




async def say(store, customer: str, channel: str, text: str, reply: str, message_id: str, address: str = "x") -> None:
    tracker = await store.retrieve(customer) or DialogueStateTracker(customer, DOMAIN.slots)
    tracker.update(UserUttered(text, {"name": "order_status", "confidence": 0.91},
                               [{"entity": "order_id", "value": "TL-48213", "start": 0, "end": 8}],
                               input_channel=channel, message_id=message_id,
                               metadata={"channel": channel, "address": address, "provider_message_id": message_id}))
    tracker.update(ActionExecuted("utter_x"))
    tracker.update(BotUttered(reply))
    tracker.update(ActionExecuted("action_listen"))
    await store.save(tracker)


async def drain(worker: TimelineWorker) -> None:
    while await worker.process_once(pending=True) or await worker.process_once(pending=False):
        pass


def summary(timeline):
    return [(r.author, r.channel, r.text) for r in timeline]


async def test_messages_reach_the_timeline_with_channel_intent_and_entities(store, worker, crm):
    await say(store, "cus_ana", "instagram", "hi", "hello!", "ig-1")
    await say(store, "cus_ana", "sms", "where is it?", "on its way", "SM1")
    await drain(worker)
    timeline = await crm.crm.timeline("cus_ana")
    assert summary(timeline) == [("customer", "instagram", "hi"), ("bot", "instagram", "hello!"),
                                 ("customer", "sms", "where is it?"), ("bot", "sms", "on its way")]
    first = timeline[0]
    assert (first.intent, first.confidence, first.provider_message_id, first.delivery_status) == (
        "order_status", 0.91, "ig-1", "received")
    assert first.entities == [{"entity": "order_id", "value": "TL-48213"}]
    assert await crm.crm.set_delivery_status("ig-1", "read")
    assert (await crm.crm.timeline("cus_ana"))[0].delivery_status == "read"


async def test_replaying_the_whole_log_writes_nothing_twice(store, worker, crm, redis_url):
    await say(store, "cus_ana", "whatsapp", "hi", "hello!", "wa-1")
    await drain(worker)
    await worker.client.delete(CURSOR_KEY)  # as if the worker died before moving its cursor
    await worker.reconcile()
    await say(store, "cus_ana", "whatsapp", "thanks", "you're welcome", "wa-2")
    await drain(worker)
    assert len(await crm.crm.timeline("cus_ana")) == 4


async def test_events_saved_before_the_worker_existed_are_caught_up_at_start(store, worker, crm):
    await say(store, "cus_bia", "sms", "hello", "hi", "SM9")
    await worker.client.delete(worker.stream)  # notification lost (stream trimmed)
    await worker.client.xgroup_create(worker.stream, "crm-timeline", id="0", mkstream=True)
    await worker.reconcile()
    assert summary(await crm.crm.timeline("cus_bia")) == [("customer", "sms", "hello"), ("bot", "sms", "hi")]


async def test_crm_outage_delays_the_timeline_but_loses_nothing(store, worker, crm, crm_url):
    await say(store, "cus_ana", "instagram", "one", "r1", "m1")
    await drain(worker)
    with crm_outage(crm_url):
        await say(store, "cus_ana", "whatsapp", "two", "r2", "m2")  # the conversation goes on
        await say(store, "cus_ana", "sms", "three", "r3", "m3")
        with pytest.raises(CrmUnavailable):
            await worker.process_once(pending=False)
        with pytest.raises(CrmUnavailable):
            await worker.process_once(pending=True)  # still pending, retried, still down
    await drain(worker)
    assert summary(await crm.crm.timeline("cus_ana")) == [
        ("customer", "instagram", "one"), ("bot", "instagram", "r1"),
        ("customer", "whatsapp", "two"), ("bot", "whatsapp", "r2"),
        ("customer", "sms", "three"), ("bot", "sms", "r3")]
    pending = await worker.client.xpending(worker.stream, "crm-timeline")
    assert pending["pending"] == 0


async def test_agent_messages_are_recorded_as_the_agent(store, worker, crm):
    await say(store, "cus_ana", "whatsapp", "can I talk to a person?", "one moment", "wa-7")
    tracker = await store.retrieve("cus_ana")
    tracker.update(BotUttered("Hi Ana, this is Bruno from support.", metadata={"sent_by": "agent"}))
    await store.save(tracker)
    await drain(worker)
    assert [(r.author, r.channel) for r in await crm.crm.timeline("cus_ana")][-1] == ("agent", "whatsapp")


async def test_an_rcs_card_reaches_the_timeline_as_its_plain_text(store, worker, crm):
    await say(store, "cus_ana", "rcs", "where is TL-70315?", "let me look", "rbm-1")
    tracker = await store.retrieve("cus_ana")
    card = {"title": "Order TL-70315", "description": "Your order TL-70315 has shipped.", "buttons": []}
    tracker.update(BotUttered(None, {"custom": {"rcs": {"card": card}, "text": "Your order TL-70315 has shipped."}}))
    await store.save(tracker)
    await drain(worker)
    assert summary(await crm.crm.timeline("cus_ana"))[-1] == ("bot", "rcs", "Your order TL-70315 has shipped.")


async def test_a_media_message_reaches_the_timeline_as_its_files_urls(store, worker, crm):
    url = "https://assistant.example/webhooks/webchat/files/Zq3"
    tracker = DialogueStateTracker("cus_ana", DOMAIN.slots)
    tracker.update(UserUttered("/share_media", {"name": "share_media", "confidence": 1.0}, input_channel="webchat",
                               message_id="webchat:cus_ana:1",
                               metadata={"channel": "webchat", "media": [{"type": "image/png", "url": url}]}))
    tracker.update(UserUttered("/share_media", {"name": "share_media", "confidence": 1.0}, input_channel="whatsapp",
                               message_id="wamid-1", metadata={"channel": "whatsapp", "media": [{"id": "77"}]}))
    await store.save(tracker)
    await drain(worker)
    assert summary(await crm.crm.timeline("cus_ana")) == [("customer", "webchat", url),
                                                          ("customer", "whatsapp", "/share_media")]
