"""What a message says, as far as the metrics need: is a bot message a useful answer, does an
outbound message ask for a fact, is a customer message a commercial one, did the bot fail.

Bot messages are judged by their response name (`interactions.response`, Rasa's `utter_action`);
a bot message without one was written by a custom action from data (an order's status, a
product's price) and counts as an answer. Agent messages are always answers; an agent asks for
a fact when the message is a question that names it (English and Portuguese words below).
"""
from __future__ import annotations

import re
from typing import Dict, Optional

from threadline.insights.model import AGENT, BOT, Message

GREETINGS = frozenset({"utter_greet", "utter_goodbye", "utter_you_are_welcome", "utter_anything_else",
                       "utter_iamabot", "utter_languages_spoken"})
FALLBACKS = frozenset({"utter_default", "utter_ask_rephrase", "utter_out_of_scope", "utter_ask_which_intent",
                       "utter_ask_is_it_about", "utter_unsupported_message", "utter_media_received"})
HANDOFF_NOTICES = frozenset({"utter_handoff", "utter_handoff_already", "utter_handoff_unavailable"})
ACKNOWLEDGEMENTS = frozenset({"utter_got_contact", "utter_got_order_number", "utter_complaint_ack",
                              "utter_feedback_thanks", "utter_csat_question", "utter_csat_thanks"})
NOT_ANSWERS = GREETINGS | FALLBACKS | HANDOFF_NOTICES | ACKNOWLEDGEMENTS
# Button labels and clarifying questions are parts of a question back.
QUESTION_PREFIXES = ("utter_ask_", "utter_button_", "utter_intent_label_")

# A bot question for a fact, by response name.
BOT_ASKS: Dict[str, str] = {"utter_ask_order_id": "order_id", "utter_ask_email": "email",
                            "utter_ask_product": "product"}
_AGENT_ASKS = {
    "order_id": re.compile(r"\border (number|id|no\.?)|\bn[uú]mero do (seu )?pedido|\bc[oó]digo do pedido", re.I),
    "email": re.compile(r"\be-?mail\b", re.I),
    "phone": re.compile(r"\b(phone|mobile|telefone|celular)\b", re.I),
    "address": re.compile(r"\b(address|endere[cç]o|cep)\b", re.I),
    "product": re.compile(r"\b(which|what) (product|item)\b|\bqual (produto|item)\b", re.I),
}
FACT_ENTITIES = {"order_id": "order_id", "email": "email", "phone": "phone", "product": "product",
                 "cep": "address"}
COMMERCIAL_INTENTS = frozenset({"purchase_intent", "product_price", "product_availability", "plan_interest"})
FALLBACK_INTENT = "nlu_fallback"
MIN_CONFIDENCE = 0.4  # the FallbackClassifier's threshold in config.yml


def kind_of_response(message: Message) -> str:
    """answer | greeting | fallback | handoff_notice | acknowledgement | question (outbound only)."""
    if message.author == AGENT:
        return "answer"
    name = message.response or ""
    if name in GREETINGS:
        return "greeting"
    if name in FALLBACKS:
        return "fallback"
    if name in HANDOFF_NOTICES:
        return "handoff_notice"
    if name in ACKNOWLEDGEMENTS:
        return "acknowledgement"
    if name.startswith(QUESTION_PREFIXES):
        return "question"
    return "answer"


def is_useful(message: Message) -> bool:
    """A human's message, or a bot answer that resolves something."""
    return message.outbound and kind_of_response(message) == "answer"


def asked_fact(message: Message) -> Optional[str]:
    """The fact an outbound message asks for, if any."""
    if message.author == BOT:
        return BOT_ASKS.get(message.response or "")
    if message.author == AGENT and message.text and "?" in message.text:
        for kind, pattern in _AGENT_ASKS.items():
            if pattern.search(message.text):
                return kind
    return None


def is_question(message: Message) -> bool:
    """An outbound message that asks the customer something back."""
    if message.author == BOT and message.response:
        return message.response.startswith(QUESTION_PREFIXES)
    return bool(message.outbound and message.text and message.text.rstrip().endswith("?"))


def normalised(kind: str, value: str) -> str:
    value = str(value).strip()
    if kind == "phone":
        return re.sub(r"\D", "", value)[-11:]  # the national number; +55 or not
    if kind in ("order_id", "address"):
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return value.lower()


def facts_given(message: Message):
    """(kind, normalised value) for each fact a customer message gives."""
    for entity, value in message.entities:
        kind = FACT_ENTITIES.get(entity)
        if kind and value:
            yield kind, normalised(kind, value)


def not_understood(message: Message) -> bool:
    return message.intent == FALLBACK_INTENT or (
        message.confidence is not None and message.confidence < MIN_CONFIDENCE)
