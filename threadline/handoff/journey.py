"""The customer's story from the tracker's events, across every session and channel (pure).

Messages are read with the CRM timeline's own reader (`interactions_from_events`), so the
summary and the CRM agree on who said what on which channel. This module turns them into the
summary's deterministic parts: the compact timeline, the quoted last messages, what the bot
already answered, the current intent, what the customer mentioned, and the sentiment scores.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Dict, Iterable, List, Optional, Tuple

from threadline.crm.interface import InteractionRecord
from threadline.crm.timeline import interactions_from_events
from threadline.handoff import sentiment
from threadline.handoff.languages import ENGLISH_WORDS, Words, marked
from threadline.handoff.rendering import shorten
from threadline.handoff.summary_model import QuotedMessage, TimelineEntry
from threadline.nlu.intent_groups import SMALL_TALK

# What a customer message meant, by intent: (with the entity it names, without it).
INTENT_PHRASES: Dict[str, Tuple[str, str]] = {
    "product_availability": (marked("asked if the {product} is in stock"), marked("asked about stock")),
    "product_price": (marked("asked the price of the {product}"), marked("asked about a price")),
    "purchase_intent": (marked("wants to buy the {product}"), marked("wants to buy something")),
    "plan_interest": (marked("asked about the {plan} plan"), marked("asked about the plans")),
    "order_status": (marked("asked where order {order_id} is"), marked("asked where their order is")),
    "delivery_time": (marked("asked when order {order_id} will arrive"),
                      marked("asked when their order will arrive")),
    "delivery_options": (marked("asked about delivery options"), marked("asked about delivery options")),
    "cancel_order": (marked("asked to cancel order {order_id}"), marked("asked to cancel an order")),
    "change_order": (marked("asked to change order {order_id}"), marked("asked to change an order")),
    "change_address": (marked("asked to change the delivery address of order {order_id}"),
                       marked("asked to change a delivery address")),
    "return_exchange": (marked("asked to return or exchange order {order_id}"),
                        marked("asked about a return or exchange")),
    "refund_request": (marked("asked for a refund of order {order_id}"), marked("asked for a refund")),
    "refund_status": (marked("asked about the refund of order {order_id}"), marked("asked about a refund")),
    "refund_policy": (marked("asked about the refund policy"), marked("asked about the refund policy")),
    "payment_methods": (marked("asked how to pay"), marked("asked how to pay")),
    "payment_problem": (marked("reported a payment problem with order {order_id}"),
                        marked("reported a payment problem")),
    "invoice": (marked("asked for the invoice of order {order_id}"), marked("asked for an invoice")),
    "account_help": (marked("asked for help with their account"), marked("asked for help with their account")),
    "stop_contact": (marked("asked us not to message them first"), marked("asked us not to message them first")),
    "allow_contact": (marked("said we may message them again"), marked("said we may message them again")),
    "request_human": (marked("asked for a person"), marked("asked for a person")),
    "provide_order_number": (marked("gave order number {order_id}"), marked("gave an order number")),
    "provide_contact": (marked("gave contact details"), marked("gave contact details")),
    "provide_quantity": (marked("said they want {quantity}"), marked("gave a quantity")),
    "greet": (marked("said hello"), marked("said hello")),
    "thank": (marked("said thanks"), marked("said thanks")),
    "goodbye": (marked("said goodbye"), marked("said goodbye")),
    "affirm": (marked("said yes"), marked("said yes")),
    "deny": (marked("said no"), marked("said no")),
    "share_media": (marked("sent a picture or file"), marked("sent a picture or file")),
}
# Intents that quote the customer rather than paraphrase them: their words are the point.
QUOTED_INTENTS = {"complaint": marked("complained"), "feedback": marked("gave feedback"),
                  "out_of_scope": marked("wrote")}
COURTESIES = frozenset({"greet", "goodbye", "thank"})  # the bot's answers to these tell nothing
NOT_UNDERSTOOD = frozenset({"nlu_fallback"})
MIN_CONFIDENCE = 0.4  # the FallbackClassifier's threshold in config.yml
MENTIONED = ("order_id", "product", "plan", "quantity")  # never email or phone: no PII in phrases


@dataclass(frozen=True)
class Journey:
    messages: Tuple[InteractionRecord, ...]

    @classmethod
    def from_events(cls, customer_id: str, events: Iterable[dict]) -> "Journey":
        records, _ = interactions_from_events(customer_id, events, None)
        return cls(tuple(r for r in records if r.text))

    @property
    def customer_messages(self) -> List[InteractionRecord]:
        return [m for m in self.messages if m.author == "customer"]

    def channels(self) -> Tuple[str, ...]:
        seen: List[str] = []
        for message in self.customer_messages:
            if message.channel and message.channel not in seen:
                seen.append(message.channel)
        return tuple(seen)

    def current(self) -> Optional[InteractionRecord]:
        """The latest customer message that says what they want (small talk skipped)."""
        customer = self.customer_messages
        meaningful = [m for m in customer if understood(m) and m.intent not in SMALL_TALK]
        return (meaningful or customer or [None])[-1]

    def mentioned(self, entity: str) -> List[str]:
        """Values of `entity` the customer gave, oldest first, each once."""
        values: List[str] = []
        for message in self.customer_messages:
            for found in message.entities:
                value = str(found.get("value") or "")
                if found.get("entity") == entity and value and value not in values:
                    values.append(value)
        return values

    def not_understood(self) -> List[InteractionRecord]:
        return [m for m in self.customer_messages if not understood(m)]

    def last_messages(self, count: int = 4, max_chars: int = 600) -> Tuple[QuotedMessage, ...]:
        return tuple(QuotedMessage(m.channel, m.text if len(m.text) <= max_chars else shorten(m.text, max_chars),
                                   m.occurred_at)
                     for m in self.customer_messages[-count:])

    def sentiment_trend(self, recent: int = 20, words: Words = ENGLISH_WORDS) -> str:
        """The mood over the customer's last `recent` messages: how they feel now, not last year."""
        return sentiment.trend((sentiment.score(m.text or "") for m in self.customer_messages[-recent:]), words)

    def timeline(self, max_entries: int = 12, words: Words = ENGLISH_WORDS) -> Tuple[TimelineEntry, ...]:
        """One entry per run of messages on the same day and channel, newest `max_entries`."""
        entries: List[Tuple[date, Optional[str], List[str]]] = []
        for message in self.messages:
            day = message.occurred_at.date()
            if not entries or entries[-1][:2] != (day, message.channel):
                entries.append((day, message.channel, []))
            entries[-1][2].append(phrase(message, words))
        return tuple(TimelineEntry(day, channel, "; ".join(_compact(parts, words)))
                     for day, channel, parts in entries[-max_entries:])

    def bot_already(self, count: int = 5, words: Words = ENGLISH_WORDS) -> Tuple[str, ...]:
        """The bot's distinct answers (not to small talk), latest `count`, and how often it did
        not understand."""
        answers: List[str] = []
        answering: Optional[str] = None
        for message in self.messages:
            if message.author == "customer":
                answering = message.intent
            elif message.author == "bot" and answering not in COURTESIES:
                line = f"{words.channel(message.channel)}: {shorten(message.text, 140)}"
                if line in answers:
                    answers.remove(line)
                answers.append(line)
        tried = answers[-count:]
        missed = self.not_understood()
        if missed:
            tried.append(words.plural(
                "did not understand %(count)d message (last: “%(quote)s”) and asked to rephrase",
                "did not understand %(count)d messages (last: “%(quote)s”) and asked to rephrase",
                len(missed), quote=shorten(missed[-1].text, 60)))
        return tuple(tried)


def understood(message: InteractionRecord) -> bool:
    return bool(message.intent) and message.intent not in NOT_UNDERSTOOD and (
        message.confidence is None or message.confidence >= MIN_CONFIDENCE)


def entities_of(message: InteractionRecord) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for entity in message.entities:
        name, value = entity.get("entity"), entity.get("value")
        if name in MENTIONED and value and name not in found:
            found[name] = str(value)
    return found


def customer_phrase(message: InteractionRecord, *, quote: bool = True, words: Words = ENGLISH_WORDS) -> str:
    """What a customer message meant, in a few words ("asked where order TL-48213 is").

    Complaints and messages the bot did not understand are quoted (their words are the
    point); with `quote=False` only the verb is given ("complained").
    """
    intent = message.intent or ""
    if understood(message) and intent in INTENT_PHRASES:
        with_entity, without = INTENT_PHRASES[intent]
        try:
            return words(with_entity).format(**entities_of(message))
        except KeyError:
            return words(without)
    verb = words(QUOTED_INTENTS.get(intent, "wrote") if understood(message) else "wrote")
    return words("%(verb)s: “%(quote)s”", verb=verb, quote=shorten(message.text, 70)) if quote else verb


def phrase(message: InteractionRecord, words: Words = ENGLISH_WORDS) -> str:
    if message.author == "customer":
        return customer_phrase(message, words=words)
    return words("%(author)s said “%(quote)s”", author=words(message.author), quote=shorten(message.text, 70))


def _compact(parts: List[str], words: Words, keep_first: int = 2, keep_last: int = 3) -> List[str]:
    """A long run keeps its start and end: the agent needs the shape, not every turn."""
    if len(parts) <= keep_first + keep_last + 1:
        return parts
    skipped = len(parts) - keep_first - keep_last
    return parts[:keep_first] + [words("… %(count)d more messages …", count=skipped)] + parts[-keep_last:]
