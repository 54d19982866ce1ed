"""action_handoff and the fallback hand-over against a real CRM database: returned events,
what the customer is told, and the handoff row (reason, priority, summary)."""
from __future__ import annotations

import pytest
from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

import actions.handoff as handoff_action
from actions.handoff import ActionDefaultFallback, ActionHandoff
from tests.crm.trackers import DOMAIN, tracker
from threadline.handoff.store import handoff_events, open_handoffs

CUSTOMER_TURNS = [
    {"event": "user", "text": "is the drift running shoes in stock?", "timestamp": 1.0,
     "parse_data": {"intent": {"name": "product_availability"}}, "input_channel": "instagram"},
    {"event": "action", "name": "action_product_info", "timestamp": 2.0},
    {"event": "bot", "text": "It's in stock.", "timestamp": 3.0},
    {"event": "user", "text": "I want to talk to a person", "timestamp": 4.0,
     "parse_data": {"intent": {"name": "request_human"}}, "input_channel": "whatsapp"},
]


def responses(dispatcher: CollectingDispatcher):
    return [m["response"] for m in dispatcher.messages]


async def run(action, t):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    return events, responses(dispatcher)


async def test_a_request_for_a_person_opens_a_waiting_handoff_with_its_summary_and_pauses(database, crm):
    events, said = await run(ActionHandoff(), tracker(intent="request_human", text="I want to talk to a person",
                                                      events=CUSTOMER_TURNS))
    assert events == [ConversationPaused()]
    assert said == ["utter_handoff"]
    [handoff] = await open_handoffs(database)
    assert (handoff.customer_id, handoff.status, handoff.reason, handoff.priority, handoff.channel) == (
        "cus_ana", "waiting", "requested", 2, "whatsapp")
    # The summary generator saw the tracker: the customer's last words are in it.
    assert "I want to talk to a person" in handoff.summary_text and handoff.summary["paragraph"]
    assert [e.kind for e in await handoff_events(database, handoff.id)] == ["opened"]
    assert await crm.crm.has_open_handoff("cus_ana")


async def test_a_second_trigger_does_not_open_a_second_handoff(database, crm):
    await run(ActionHandoff(), tracker(intent="request_human"))
    events, said = await run(ActionHandoff(), tracker(intent="complaint", channel="email"))
    assert events == [ConversationPaused()]
    assert said == ["utter_handoff_already"]
    [handoff] = await open_handoffs(database)
    assert (handoff.reason, handoff.channel) == ("requested", "whatsapp")


@pytest.mark.parametrize("intent, reason, priority", [
    ("complaint", "complaint", 1), ("request_human", "requested", 2)])
async def test_the_reason_and_priority_come_from_the_intent(database, crm, intent, reason, priority):
    await run(ActionHandoff(), tracker(intent=intent))
    [handoff] = await open_handoffs(database)
    assert (handoff.reason, handoff.priority) == (reason, priority)


@pytest.mark.parametrize("escalation, reason, priority", [
    ({"reason": "sensitive_topic", "detail": "chargeback", "intent": "payment_problem"}, "sensitive_topic", 1),
    ({"reason": "negative_sentiment", "detail": "sentiment -0.91", "intent": "order_status"}, "negative_sentiment", 1),
])
async def test_an_escalation_found_by_the_nlu_is_the_reason(database, crm, escalation, reason, priority):
    t = tracker(intent="request_human", text="I'll file a chargeback")
    t.latest_message["escalation"] = escalation
    await run(ActionHandoff(), t)
    [handoff] = await open_handoffs(database)
    assert (handoff.reason, handoff.priority) == (reason, priority)


async def test_a_lead_registered_just_now_is_a_sales_handoff(database, crm):
    form_done = [
        {"event": "user", "text": "ana@example.com", "parse_data": {"intent": {"name": "provide_contact"}}},
        {"event": "action", "name": "sales_qualification_form"},
        {"event": "active_loop", "name": None},
        {"event": "action", "name": "action_register_lead"},
        {"event": "action", "name": "utter_lead_registered"},
        {"event": "bot", "text": "Thanks! A colleague will contact you at ana@example.com shortly."},
    ]
    await run(ActionHandoff(), tracker({"email": "ana@example.com"}, intent="provide_contact", events=form_done))
    [handoff] = await open_handoffs(database)
    assert (handoff.reason, handoff.priority) == ("sales_ready", 2)


async def test_the_two_stage_fallback_giving_up_hands_over(database, crm):
    t = tracker(intent="nlu_fallback", text="blorp the frobnicator")
    t.active_loop = {"name": "action_two_stage_fallback"}
    events, said = await run(ActionDefaultFallback(), t)
    assert events == [ConversationPaused()] and said == ["utter_handoff"]
    [handoff] = await open_handoffs(database)
    assert (handoff.reason, handoff.priority) == ("not_understood", 3)


async def test_the_core_fallback_outside_the_two_stage_fallback_only_says_so(database, crm):
    events, said = await run(ActionDefaultFallback(), tracker(intent="greet"))
    assert events == [UserUtteranceReverted()] and said == ["utter_default"]
    assert await open_handoffs(database) == []


async def test_without_the_crm_database_the_bot_stays_with_the_customer(database, crm, crm_url):
    from tests.support.crm_outage import crm_outage

    database.dispose()  # no pooled connection survives into the outage
    with crm_outage(crm_url):
        events, said = await run(ActionHandoff(), tracker(intent="request_human"))
    assert events == [] and said == ["utter_handoff_unavailable"]  # not paused: nobody would come
    assert await open_handoffs(database) == []


async def test_a_failing_summary_generator_still_hands_over(database, crm, monkeypatch):
    async def broken(*_args, **_kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(handoff_action, "generate_summary", broken)
    events, said = await run(ActionHandoff(), tracker(intent="complaint"))
    assert events == [ConversationPaused()] and said == ["utter_handoff"]
    [handoff] = await open_handoffs(database)
    assert handoff.summary_text == "Summary unavailable (KeyError); reason: complaint."


async def test_a_handoff_in_the_middle_of_a_form_leaves_no_form_half_asked(database, crm):
    t = tracker({"product": "Trailhead Backpack"}, intent="complaint")
    t.active_loop = {"name": "sales_qualification_form"}
    events, said = await run(ActionHandoff(), t)
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), ConversationPaused()]
    assert said == ["utter_handoff"]
