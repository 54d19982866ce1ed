"""The handoff summary (issue #9) over the real CRM (SQLite and PostgreSQL) and Rasa events."""
from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

from threadline.conversation.tracker_store import CustomerTrackerStore
from tests.handoff.journeys import (
    COMPLAINT, EMAIL, ORDER_ID, PHONE, PRODUCT, at, bot_answers, customer_says, entity, session_start,
    three_channel_journey,
)
from tests.handoff.llm_server import FakeChatCompletions
from tests.support.conversations import DOMAIN
from tests.support.crm_outage import crm_outage
from threadline.handoff.rendering import day_label
from threadline.identity.directory import create_customer
from threadline.handoff.summary import HandoffSummary, generate_summary


async def summarise(services, journey, reason="complaint") -> HandoffSummary:
    return await generate_summary(journey.customer_id, crm=services, tracker_events=journey.events, reason=reason)


async def test_three_channel_journey_names_channels_product_order_complaint_and_reason(services, database):
    journey = await three_channel_journey(services, database, date.today())
    summary = await summarise(services, journey)

    paragraph = summary.paragraph
    for named in ("Instagram", "WhatsApp", "Email", PRODUCT, ORDER_ID, "complained", "This is unacceptable"):
        assert named in paragraph, named
    assert paragraph.startswith("Ana has written on Instagram, WhatsApp and Email")
    assert paragraph.endswith("Handed over because the customer complained.")
    assert "Souza" not in paragraph and PHONE not in paragraph and EMAIL not in paragraph
    assert len(paragraph.split()) <= 80
    assert summary.generated_by == "deterministic"

    text = summary.to_text()  # what the CLI and notifications show
    for named in ("Instagram", "WhatsApp", "Email", PRODUCT, ORDER_ID, "complain", "the customer complained"):
        assert named in text, named


async def test_journey_parts_timeline_open_items_last_messages_bot_answers(services, database):
    today = date.today()
    journey = await three_channel_journey(services, database, today)
    summary = await summarise(services, journey)

    assert [entry.line.split(":")[0] for entry in summary.timeline] == [
        f"{day_label(journey.instagram_day)}, Instagram", f"{day_label(journey.whatsapp_day)}, WhatsApp",
        f"{day_label(today)}, Email"]
    instagram, whatsapp, email = (entry.text for entry in summary.timeline)
    assert instagram.startswith(f"asked if the {PRODUCT} is in stock; bot said “The {PRODUCT} costs BRL 499.00")
    assert whatsapp.startswith(f"asked where order {ORDER_ID} is; bot said “Your order {ORDER_ID}")
    assert email.startswith("complained: “This is unacceptable.")

    assert summary.intent == "complaint"
    assert [(m.channel, m.text) for m in summary.last_messages] == [
        ("instagram", "Hi! Do you have the Drift Running Shoes in size 42?"), ("instagram", "great, thanks!"),
        ("whatsapp", f"Hi, I bought them. Where is my order {ORDER_ID}?"), ("email", COMPLAINT)]

    items = {item.kind: item for item in summary.open_items}
    assert items["order"].text == (f"Order {ORDER_ID}: 1 × {PRODUCT}, shipped with Correios, "
                                   f"due {day_label(today - timedelta(days=2))}: 2 days late")
    assert items["opportunity"].text.startswith(f"Opportunity #{items['opportunity'].ref}: {PRODUCT}, stage new")
    assert items["case"].text.startswith(f"Case #{items['case'].ref}: late order about order {ORDER_ID}, open since")
    assert items["promise"].due == journey.whatsapp_day + timedelta(days=1)
    assert items["promise"].text.endswith("(overdue)")

    assert any(line.startswith(f"WhatsApp: Your order {ORDER_ID} (1 × {PRODUCT}) has shipped")
               for line in summary.bot_already)
    assert summary.sentiment_trend == "calm → angry"
    assert summary.next_step.startswith(
        f"Apologise and own the problem, then check order {ORDER_ID} with Correios and give Ana a firm delivery date.")
    assert "overdue" in summary.next_step


async def test_summary_is_json_safe_and_reads_back(services, database):
    journey = await three_channel_journey(services, database, date.today())
    summary = await summarise(services, journey)
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["timeline"][0]["line"] == summary.timeline[0].line
    assert HandoffSummary.from_dict(data) == summary


async def test_the_reason_changes_why_and_what_next(services, database):
    journey = await three_channel_journey(services, database, date.today())
    requested = await summarise(services, journey, "requested")
    assert requested.paragraph.endswith("Handed over because the customer asked for a person.")
    assert requested.next_step.startswith("Introduce yourself to Ana")
    await services.crm.touch_opportunity(journey.customer_id, product=PRODUCT, stage="qualified", quantity=2)
    sales = await summarise(services, journey, "sales_ready")
    assert f"the lead for {PRODUCT} is at stage qualified" in sales.paragraph
    assert sales.next_step.startswith(f"Close the sale: confirm the {PRODUCT} × 2")
    with pytest.raises(ValueError):
        await summarise(services, journey, "bored")


async def test_a_crm_outage_still_gives_the_story_from_the_tracker(services, database, crm_url):
    journey = await three_channel_journey(services, database, date.today())
    database.dispose()  # no pooled connection survives the outage
    with crm_outage(crm_url):
        summary = await summarise(services, journey)
    assert [item.kind for item in summary.open_items] == ["unavailable"]
    assert "The customer has written on Instagram, WhatsApp and Email" in summary.paragraph
    assert ORDER_ID in summary.paragraph and summary.sentiment_trend == "calm → angry"


async def test_a_long_history_keeps_the_paragraph_short_and_the_latest_story(services, database):
    journey = await three_channel_journey(services, database, date.today())
    complaint = journey.events[-4:]  # the email complaint and the bot's answer, repeated
    padding = []
    for day in range(30):
        for event in journey.events[:-4]:
            padding.append(dict(event, timestamp=event["timestamp"] - (day + 5) * 86400))
    summary = await generate_summary(journey.customer_id, crm=services, tracker_events=padding + journey.events[:-4]
                                     + complaint, reason="complaint")
    assert len(summary.paragraph.split()) <= 80
    assert "complained" in summary.paragraph and summary.paragraph.endswith("the customer complained.")
    assert len(summary.timeline) == 12 and summary.timeline[-1].channel == "email"


async def test_the_tracker_stores_full_history_gives_the_same_story(services, database, redis_url):
    journey = await three_channel_journey(services, database, date.today())
    store = CustomerTrackerStore(domain=DOMAIN, host=redis_url)
    try:
        starts = [i for i, e in enumerate(journey.events) if e["event"] == "action" and e["name"] == "action_session_start"]
        for start, end in zip(starts, starts[1:] + [len(journey.events)]):  # one save per session, as Rasa does
            tracker = await store.retrieve(journey.customer_id) or DialogueStateTracker(journey.customer_id, DOMAIN.slots)
            for event in journey.events[start:end]:
                tracker.update(Event.from_parameters(event))
            await store.save(tracker)
        assert len((await store.retrieve(journey.customer_id)).events) < len(journey.events)  # current session only
        stored = await store.read_history(journey.customer_id)
    finally:
        await store.close()
    from_store = await generate_summary(journey.customer_id, crm=services, tracker_events=stored, reason="complaint")
    direct = await summarise(services, journey)
    assert (from_store.paragraph, from_store.timeline, from_store.last_messages) == (
        direct.paragraph, direct.timeline, direct.last_messages)


async def test_two_misunderstood_sms_messages_are_quoted_and_counted(services, database):
    customer_id = database.transaction(lambda session: create_customer(session).id)
    today = date.today()
    events = session_start(at(today, 0, 1))
    for minute, text in ((2, "the thingy with the blinking light wont pair"), (3, "PAIR. THE. THING.")):
        events.append(customer_says(at(today, 0, minute), "sms", text, "nlu_fallback", 0.31))
        events += bot_answers(at(today, 0, minute), "action_two_stage_fallback",
                              "I'm not sure I understood. Could you rephrase that?", "utter_ask_rephrase")
    summary = await generate_summary(customer_id, crm=services, tracker_events=events, reason="not_understood")

    assert summary.paragraph == (
        "The customer has written on SMS since " + day_label(today) + ". Now, on SMS, they wrote: "
        "“PAIR. THE. THING.”. Handed over because the bot failed to understand the customer twice in a row.")
    assert summary.timeline[0].text.startswith("wrote: “the thingy with the blinking light wont pair”; bot said")
    assert summary.bot_already[-1] == "did not understand 2 messages (last: “PAIR. THE. THING.”) and asked to rephrase"
    assert summary.next_step.startswith("Ask the customer, in plain words, what they need")
    assert summary.open_items == () and summary.intent == "nlu_fallback"


async def test_asking_for_a_person_picks_up_the_topic_before_with_a_crm_alone(services, database):
    customer_id = database.transaction(lambda session: create_customer(session, display_name="Carla Dias").id)
    today, question = date.today(), "how much is the orbit watch?"
    events = session_start(at(today, 0, 1)) + [
        customer_says(at(today, 0, 2), "sms", question, "product_price", 0.9,
                      [entity("product", "Orbit Smartwatch", question)]),
        *bot_answers(at(today, 0, 2), "action_product_info", "The Orbit Smartwatch costs BRL 899.00 and we have 3 in stock."),
        customer_says(at(today, 0, 3), "sms", "can I talk to a human please", "request_human", 0.98)]
    summary = await generate_summary(customer_id, crm=services.crm, tracker_events=events, reason="requested")
    assert "Earlier they asked the price of the Orbit Smartwatch (SMS)." in summary.paragraph
    assert summary.next_step == ("Introduce yourself to Carla and pick up their last topic: "
                                 "they asked the price of the Orbit Smartwatch (SMS).")
    assert summary.open_items == ()  # a bare Crm: no order book to ask


async def test_a_customer_who_never_wrote_still_gets_a_summary(services, database):
    customer_id = database.transaction(lambda session: create_customer(session, display_name="Bruno").id)
    summary = await generate_summary(customer_id, crm=services, tracker_events=[], reason="sensitive_topic")
    assert summary.paragraph == "Bruno has not written yet. Handed over because the conversation touches a sensitive topic."
    assert (summary.timeline, summary.last_messages, summary.channels) == ((), (), ())
    assert summary.sentiment_trend == "no customer messages" and summary.intent is None


# --- The optional LLM paragraph, against a local OpenAI-compatible server -------------------

LLM_PARAGRAPH = ("Ana first asked about the Drift Running Shoes on Instagram, then asked on WhatsApp "
                 "where order TL-48213 is. It is two days late and the promised update never came; "
                 "today she complained by email. She needs a person now. Call +55 11 98765-4321.")


@pytest.fixture
async def llm(monkeypatch):
    server = FakeChatCompletions()
    await server.start()
    monkeypatch.setenv("SUMMARY_LLM_URL", server.url)
    monkeypatch.setenv("SUMMARY_LLM_API_KEY", "test-key")
    monkeypatch.setenv("SUMMARY_LLM_MODEL", "tiny-model")
    yield server
    await server.stop()


async def offline_summary(services, journey, monkeypatch) -> HandoffSummary:
    with monkeypatch.context() as offline:
        offline.delenv("SUMMARY_LLM_URL")
        return await summarise(services, journey)


async def test_the_llm_writes_the_paragraph_from_a_redacted_prompt(services, database, llm, monkeypatch):
    journey = await three_channel_journey(services, database, date.today())
    offline = await offline_summary(services, journey, monkeypatch)
    llm.content = "```json\n" + json.dumps({"paragraph": LLM_PARAGRAPH, "next_step": "Apologise first."}) + "\n```"
    summary = await summarise(services, journey)

    assert summary.generated_by == "llm" and summary.next_step == "Apologise first."
    assert summary.paragraph == LLM_PARAGRAPH.replace("+55 11 98765-4321", "[phone]")  # redacted on the way in too
    assert (summary.timeline, summary.open_items, summary.last_messages, summary.sentiment_trend) == (
        offline.timeline, offline.open_items, offline.last_messages, offline.sentiment_trend)

    [request] = llm.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer test-key"
    assert request["body"]["model"] == "tiny-model"
    assert [m["role"] for m in request["body"]["messages"]] == ["system", "user"]
    prompt = llm.prompt_text()
    for fact in ("Ana", "Instagram", "WhatsApp", "Email", PRODUCT, ORDER_ID, "the customer complained"):
        assert fact in prompt, fact
    for secret in (EMAIL, "@", PHONE, "98765", "Souza", journey.customer_id, "test-key"):
        assert secret not in prompt, secret


async def test_an_llm_timeout_keeps_the_deterministic_summary(services, database, llm, monkeypatch, caplog):
    journey = await three_channel_journey(services, database, date.today())
    offline = await offline_summary(services, journey, monkeypatch)
    monkeypatch.setenv("SUMMARY_LLM_TIMEOUT_S", "0.5")
    llm.delay_s = 3
    llm.content = json.dumps({"paragraph": LLM_PARAGRAPH})
    started = time.monotonic()
    summary = await summarise(services, journey)
    assert time.monotonic() - started < 2.5
    assert (summary.generated_by, summary.paragraph, summary.next_step) == (
        "deterministic", offline.paragraph, offline.next_step)
    [line] = [r.getMessage() for r in caplog.records if r.name == "threadline.handoff.summary_llm"]
    assert "TimeoutError" in line and ORDER_ID not in line and "unacceptable" not in line


@pytest.mark.parametrize("status, content, raw_body", [
    (200, "Sure! Ana is upset about her order, please help her.", None),  # prose, not JSON
    (200, json.dumps({"summary": "no paragraph key"}), None),
    (200, json.dumps({"paragraph": "word " * 300}), None),  # an essay, not a summary
    (500, json.dumps({"paragraph": "an error page"}), None),
    (200, "", '{"error": "not a chat completion"}'),
    (200, "", "<html>proxy error</html>"),
])
async def test_an_unusable_llm_answer_keeps_the_deterministic_summary(
        services, database, llm, monkeypatch, status, content, raw_body):
    journey = await three_channel_journey(services, database, date.today())
    offline = await offline_summary(services, journey, monkeypatch)
    llm.status, llm.content, llm.raw_body = status, content, raw_body
    summary = await summarise(services, journey)
    assert len(llm.requests) == 1
    assert (summary.generated_by, summary.paragraph) == ("deterministic", offline.paragraph)


async def test_the_llm_is_not_asked_unless_url_key_and_model_are_all_set(services, database, llm, monkeypatch):
    journey = await three_channel_journey(services, database, date.today())
    monkeypatch.delenv("SUMMARY_LLM_API_KEY")
    summary = await summarise(services, journey)
    assert summary.generated_by == "deterministic" and llm.requests == []
