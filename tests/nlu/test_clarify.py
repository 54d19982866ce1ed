"""The two-stage fallback's question (actions/clarify.py): the likeliest intents offered in
plain words, and an SMS customer's "1" read as the first intent through the real offer code."""
from __future__ import annotations

import time
from typing import Any, Dict, List

import pytest
from rasa.core.actions.action import RemoteAction, action_for_name_or_text
from rasa.core.actions.two_stage_fallback import TwoStageFallbackAction
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_TWO_STAGE_FALLBACK_NAME, DEFAULT_INTENTS
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from actions.clarify import NEVER_OFFERED, ActionAskWhichIntent
from connectors.sms import SmsInput
from connectors.webhook import events as kinds
from connectors.webhook.events import InboundEvent
from connectors.webhook.runtime import ChannelRuntime, default_resolver_factory
from connectors.webhook.text import sms_segments
from tests.channels.conftest import channel_env, sandbox  # noqa: F401 (fixtures)
from tests.channels.helpers import sent
from tests.crm.trackers import DOMAIN, tracker
from threadline.settings import PROJECT_DIR

RASA_DOMAIN = Domain.load(str(PROJECT_DIR / "domain.yml"))
PHONE = "+5511987654321"
SOMETHING_ELSE = {"title": "Something else", "payload": "/out_of_scope"}


def unsure(ranking: List[tuple[str, float]], channel: str = "whatsapp",
           text: str = "any news about my order?", language: str | None = None) -> Tracker:
    """A tracker whose latest message fell back, with the classifier's ranking below it."""
    t = tracker({"language": language}, intent="nlu_fallback", text=text, channel=channel)
    t.latest_message["intent"] = {"name": "nlu_fallback", "confidence": 0.4}
    t.latest_message["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.4}] + [
        {"name": name, "confidence": confidence} for name, confidence in ranking]
    return t


async def ask(t: Tracker) -> tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionAskWhichIntent().run(dispatcher, t, DOMAIN)
    return events, dispatcher.messages


async def test_the_two_likeliest_intents_are_offered_in_plain_words_with_something_else():
    events, [message] = await ask(unsure([("order_status", 0.38), ("delivery_time", 0.31), ("refund_status", 0.2)]))
    assert events == []
    assert (message["response"], message["text"]) == ("utter_ask_which_intent", None)
    assert message["buttons"] == [{"title": "Where my order is", "payload": "/order_status"},
                                  {"title": "Delivery times", "payload": "/delivery_time"}, SOMETHING_ELSE]


async def test_a_portuguese_customer_is_offered_the_choices_in_portuguese():
    _, [message] = await ask(unsure([("order_status", 0.38), ("delivery_time", 0.31)],
                                    text="alguma novidade do pedido?", language="pt"))
    assert message["buttons"] == [{"title": "Cadê meu pedido", "payload": "/order_status"},
                                  {"title": "Prazo de entrega", "payload": "/delivery_time"},
                                  {"title": "Outra coisa", "payload": "/out_of_scope"}]
    _, [message] = await ask(unsure([("order_status", 0.38), ("greet", 0.31)], language="pt"))
    assert [b["title"] for b in message["buttons"]][1:] == [
        DOMAIN["responses"]["utter_button_no"][1]["text"]]


async def test_small_talk_yes_no_and_form_answers_are_never_offered():
    _, [message] = await ask(unsure([("greet", 0.3), ("provide_order_number", 0.25), ("order_status", 0.2),
                                     ("thank", 0.1), ("refund_request", 0.05), ("deny", 0.04)]))
    assert [b["payload"] for b in message["buttons"]] == ["/order_status", "/refund_request", "/out_of_scope"]


async def test_one_candidate_left_is_asked_about_with_yes_and_no():
    _, [message] = await ask(unsure([("order_status", 0.39), ("greet", 0.3), ("thank", 0.1)]))
    assert (message["response"], message["intent_label"]) == ("utter_ask_is_it_about", "Where my order is")
    assert message["buttons"] == [{"title": "Yes", "payload": "/order_status"},
                                  {"title": "No, something else", "payload": "/out_of_scope"}]
    rendered = await TemplatedNaturalLanguageGenerator(RASA_DOMAIN.responses).generate(
        "utter_ask_is_it_about", DialogueStateTracker("cus_ana", []), "whatsapp", intent_label="Where my order is")
    assert rendered["text"] == "Just to check, is it about this: Where my order is?"


async def test_nothing_worth_offering_asks_to_rephrase():
    events, [message] = await ask(unsure([("greet", 0.35), ("goodbye", 0.3)]))
    assert (events, message["response"], message["buttons"]) == ([], "utter_ask_rephrase", [])


def test_every_intent_that_can_be_offered_has_a_short_plain_label():
    offerable = [i for i in RASA_DOMAIN.intents if i not in NEVER_OFFERED and i not in DEFAULT_INTENTS]
    assert "order_status" in offerable and "greet" not in offerable
    labels = {i: RASA_DOMAIN.responses.get(f"utter_intent_label_{i}", [{}])[0].get("text") for i in offerable}
    assert all(labels.values()), [i for i, label in labels.items() if not label]
    # 20 characters: WhatsApp reply buttons and Instagram quick replies show it whole.
    assert all(len(label) <= 20 and "_" not in label for label in labels.values()), labels


def test_rasa_calls_the_action_server_for_it_and_the_server_serves_it():
    action = action_for_name_or_text("action_default_ask_affirmation", RASA_DOMAIN, EndpointConfig("http://x"))
    assert isinstance(action, RemoteAction)
    executor = ActionExecutor()
    executor.register_package("actions")
    assert "action_default_ask_affirmation" in executor.actions


# --- SMS: the numbered list a customer sees and what their "1" becomes ----------------------
@pytest.fixture
async def sms(channel_env, sandbox, monkeypatch):  # noqa: F811 (fixtures)
    for name, value in channel_env.items():
        monkeypatch.setenv(name, value)
    channel = SmsInput.from_credentials(None)
    channel.runtime = ChannelRuntime.open(default_resolver_factory)
    yield channel
    await channel.runtime.close()


async def say(sms_channel: SmsInput, customer_id: str, messages: List[Dict[str, Any]]) -> None:
    """What Rasa does with the action server's messages: render each response with the domain
    (RemoteAction), then send each bot message to the customer's output channel."""
    rasa_tracker = DialogueStateTracker(customer_id, RASA_DOMAIN.slots)
    nlg = TemplatedNaturalLanguageGenerator(RASA_DOMAIN.responses)
    output = sms_channel.output_channel(PHONE)
    for bot in await RemoteAction._utter_responses([dict(m) for m in messages], output, nlg, rasa_tracker):
        await output.send_response(customer_id, bot.message())


def rasa_reads(text: str) -> Dict[str, Any]:
    [parsed] = RegexMessageHandler().process([Message({TEXT: text})], RASA_DOMAIN)
    return parsed.get(INTENT)


async def test_an_sms_customer_sees_numbered_plain_words_and_1_becomes_the_intent(sms, sandbox):  # noqa: F811
    customer_id = await sms.runtime.resolver.resolve("sms", PHONE)
    _, messages = await ask(unsure([("order_status", 0.38), ("delivery_time", 0.31)], channel="sms"))
    await say(sms, customer_id, messages)
    [text] = [s["body"]["Body"] for s in sent(sandbox, "sms", PHONE)]
    assert text == ("Which of these is it about?\n\n1. Where my order is\n2. Delivery times\n3. Something else\n\n"
                    "Reply with a number.")
    assert "order_status" not in text and "delivery_time" not in text
    assert sms_segments(text) == ("GSM-7", 1)

    def reply(words: str) -> InboundEvent:
        return InboundEvent(channel="sms", kind=kinds.MESSAGE, event_id=f"sms-{time.monotonic_ns()}",
                            address=PHONE, text=words, message_type="text")

    chosen = await sms.text_for_bot(reply("1"), sms.runtime, customer_id)
    assert chosen == "/order_status"
    # Rasa reads it as the intent at confidence 1: the two-stage fallback takes it as clarified.
    assert rasa_reads(chosen) == {"name": "order_status", "confidence": 1.0}
    assert await sms.text_for_bot(reply("3"), sms.runtime, customer_id) == "/out_of_scope"


# --- Rasa's two-stage fallback with the customer's choice -------------------------------------
def after_the_question(choice: str) -> DialogueStateTracker:
    """The conversation after "any news about my order?" fell back and the question was asked;
    the customer's next message is `choice`, parsed as Rasa parses a payload."""
    unclear = UserUttered("any news about my order?", {"name": "nlu_fallback", "confidence": 0.4},
                          parse_data={"intent_ranking": [{"name": "nlu_fallback", "confidence": 0.4},
                                                         {"name": "order_status", "confidence": 0.38}]})
    chosen = rasa_reads(choice)
    return DialogueStateTracker.from_events("cus_ana", [
        ActionExecuted(ACTION_LISTEN_NAME), unclear,
        ActionExecuted(ACTION_TWO_STAGE_FALLBACK_NAME), ActiveLoop(ACTION_TWO_STAGE_FALLBACK_NAME),
        BotUttered("Which of these is it about?"), ActionExecuted(ACTION_LISTEN_NAME),
        UserUttered(choice, chosen, parse_data={"intent": chosen, "intent_ranking": [chosen]}),
    ], RASA_DOMAIN.slots)


async def run_fallback(t: DialogueStateTracker) -> tuple[DialogueStateTracker, List[str]]:
    """Rasa's two-stage fallback on `t`, logged as Rasa's processor logs it (the action's
    execution, then its events); with what the bot says."""
    action = TwoStageFallbackAction(None)
    events = await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(RASA_DOMAIN.responses),
                              t, RASA_DOMAIN)
    t.update(ActionExecuted(action.name()))
    t.update_with_events(events, RASA_DOMAIN)
    return t, [e.text for e in events if isinstance(e, BotUttered)]


async def test_choosing_an_offered_intent_replaces_the_unclear_message_with_it():
    t, said = await run_fallback(after_the_question("/order_status"))
    assert said == [] and t.active_loop_name is None
    users = [e for e in t.applied_events() if isinstance(e, UserUttered)]
    # The words that fell back are gone from the conversation: only the choice counts.
    assert [(e.text, e.intent_name, e.intent["confidence"]) for e in users] == [("/order_status", "order_status", 1.0)]


async def test_something_else_asks_to_rephrase():
    t, said = await run_fallback(after_the_question("/out_of_scope"))
    assert said == [RASA_DOMAIN.responses["utter_ask_rephrase"][0]["text"]]
    assert t.active_loop_name == ACTION_TWO_STAGE_FALLBACK_NAME
