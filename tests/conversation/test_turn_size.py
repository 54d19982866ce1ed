"""What a turn leaves in Redis (threadline/conversation/slim_events.py), through Rasa's processor.

The same conversation (bench/turn_size.py's, English and Portuguese, a form, a handoff) goes to
two assistants around the same trained model: one on CustomerTrackerStore (slim events, read
back from Redis every turn), one on Rasa's InMemoryTrackerStore (the full events). What slimming
may not change: the replies, the states the policies see, the CRM timeline and the handoff
summary's reading of the messages.
"""
from __future__ import annotations

import copy
import json

import pytest
from rasa.core.channels import CollectingOutputChannel, UserMessage

from bench.turn_size import CONVERSATION, per_turn, webhook_metadata
from threadline.conversation.event_ids import with_event_id
from threadline.conversation.lock_store import CustomerLockStore
from threadline.conversation.slim_events import inflated_event, serialized, slim_event
from threadline.conversation.tracker_store import CustomerTrackerStore
from threadline.crm.timeline import interactions_from_events
from threadline.handoff.journey import Journey
from tests.support.assistant import agent_with_stores, in_memory_agent

SLIM, FULL = "cus_slim", "cus_full"


@pytest.fixture(scope="module")
def processor(trained_processor, action_endpoint):
    processor = copy.copy(trained_processor)
    processor.action_endpoint = action_endpoint
    return processor


async def say(agent, sender: str, number: int, text: str, customer: int) -> list:
    output = CollectingOutputChannel()
    meta = {**webhook_metadata(customer, number), "customer_id": sender}
    await agent.handle_message(UserMessage(text, output, sender, input_channel="whatsapp",
                                           message_id=str(meta["provider_message_id"]), metadata=meta))
    return [m.get("text") for m in output.messages]


def best(scores: list) -> str:
    return max(scores, key=lambda s: s["score"])["action"]


async def test_a_turn_stores_at_most_1_2_kb_and_the_assistant_behaves_as_with_full_events(processor, redis_url):
    store, locks = CustomerTrackerStore(host=redis_url), CustomerLockStore(url=redis_url)
    slim_agent = agent_with_stores(processor, store, locks)
    full_agent = in_memory_agent(processor, processor.action_endpoint)
    try:
        for number, text in enumerate(CONVERSATION):
            assert await say(slim_agent, SLIM, number, text, 1) == await say(full_agent, FULL, number, text, 2), text
            restored, full = await store.retrieve(SLIM), await full_agent.tracker_store.retrieve(FULL)
            # What the policies featurize, turn by turn, and what they predict from it.
            assert restored.past_states(processor.domain) == full.past_states(processor.domain), text
            predicted = [processor.predict_next_with_tracker(t) for t in (restored, full)]
            assert [(p["policy"], best(p["scores"])) for p in predicted][0] == \
                [(p["policy"], best(p["scores"])) for p in predicted][1], text
        raw = await store.log.read(SLIM)
    finally:
        await store.close()
        await locks.close()
    turns = per_turn(raw)
    assert len(turns) == len(CONVERSATION)
    assert sum(len(e) for e in raw) / len(turns) <= 1200


async def test_slim_events_give_the_same_timeline_summary_reading_and_rasa_events(processor):
    agent = in_memory_agent(processor, processor.action_endpoint)
    for number, text in enumerate(CONVERSATION[:6]):
        await say(agent, FULL, number, text, 3)
    full = [with_event_id(e.as_dict()) for e in (await agent.tracker_store.retrieve(FULL)).events]
    stored = [json.loads(serialized(slim_event(e, FULL))) for e in full]
    # Well under half of what Rasa serializes.
    assert sum(len(serialized(e).encode()) for e in stored) < sum(len(json.dumps(e)) for e in full) / 2

    # The CRM timeline reads the raw stored events (timeline_worker): the same records.
    assert interactions_from_events(FULL, stored, None) == interactions_from_events(FULL, full, None)
    journey, full_journey = Journey.from_events(FULL, stored), Journey.from_events(FULL, full)
    assert journey == full_journey and journey.timeline() == full_journey.timeline()
    assert [m.intent for m in journey.customer_messages][:2] == ["greet", "order_status"]
    assert journey.customer_messages[1].entities == [{"entity": "order_id", "value": "12345"}]

    # Rasa rebuilds the same events from what the store reads back (ids aside, which it drops).
    from rasa.shared.core.events import Event
    rebuilt = [Event.from_parameters(inflated_event(e)) for e in stored]
    # Rasa's model and assistant stamps are not stored (slim_events.py): compare without them.
    originals = [Event.from_parameters(without_stamps(e)) for e in full]
    # An action's policy and confidence are not stored (slim_events.py): compare the rest.
    assert [(e.type_name, getattr(e, "action_name", None)) for e in rebuilt] == \
        [(e.type_name, getattr(e, "action_name", None)) for e in originals]
    others = ("action", "user")
    assert [e for e in rebuilt if e.type_name not in others] == [e for e in originals if e.type_name not in others]
    # A user event: the same but for each entity's extractor (Rasa's __eq__ compares their keys).
    users = [(r, o) for r, o in zip(rebuilt, originals) if r.type_name == "user"]
    assert all((r.text, r.intent, r.input_channel, r.message_id, r.use_text_for_featurization)
               == (o.text, o.intent, o.input_channel, o.message_id, o.use_text_for_featurization)
               and r.as_sub_state() == o.as_sub_state()
               and r.entities == [{k: v for k, v in e.items() if k != "extractor"} for e in o.entities]
               for r, o in users)
    assert any(o.entities for _, o in users) and all(r.input_channel == "whatsapp" for r, _ in users)
    # Only the turn's own NLU detail is gone.
    assert "intent_ranking" in users[0][1].parse_data and "intent_ranking" not in users[0][0].parse_data


def without_stamps(event: dict) -> dict:
    metadata = {k: v for k, v in (event.get("metadata") or {}).items() if k not in ("model_id", "assistant_id")}
    return {**event, "metadata": metadata}
