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
from threadline.handoff.rendering import channel_label, shorten
from threadline.handoff.summary_model import QuotedMessage, TimelineEntry

# What a customer message meant, by intent: (with the entity it names, without it).
INTENT_PHRASES: Dict[str, Tuple[str, str]] = {
    "product_availability": ("asked if the {product} is in stock", "asked about stock"),
    "product_price": ("asked the price of the {product}", "asked about a price"),
    "purchase_intent": ("wants to buy the {product}", "wants to buy something"),
    "plan_interest": ("asked about the {plan} plan", "asked about the plans"),
    "order_status": ("asked where order {order_id} is", "asked where their order is"),
    "delivery_time": ("asked when order {order_id} will arrive", "asked when their order will arrive"),
    "delivery_options": ("asked about delivery options", "asked about delivery options"),
    "cancel_order": ("asked to cancel order {order_id}", "asked to cancel an order"),
    "change_order": ("asked to change order {order_id}", "asked to change an order"),
    "change_address": ("asked to change the delivery address of order {order_id}",
                       "asked to change a delivery address"),
    "return_exchange": ("asked to return or exchange order {order_id}", "asked about a return or exchange"),
    "refund_request": ("asked for a refund of order {order_id}", "asked for a refund"),
    "refund_status": ("asked about the refund of order {order_id}", "asked about a refund"),
    "refund_policy": ("asked about the refund policy", "asked about the refund policy"),
    "payment_methods": ("asked how to pay", "asked how to pay"),
    "payment_problem": ("reported a payment problem with order {order_id}", "reported a payment problem"),
    "invoice": ("asked for the invoice of order {order_id}", "asked for an invoice"),
    "account_help": ("asked for help with their account", "asked for help with their account"),
    "request_human": ("asked for a person", "asked for a person"),
    "provide_order_number": ("gave order number {order_id}", "gave an order number"),
    "provide_contact": ("gave contact details", "gave contact details"),
    "provide_quantity": ("said they want {quantity}", "gave a quantity"),
    "greet": ("said hello", "said hello"),
    "thank": ("said thanks", "said thanks"),
    "goodbye": ("said goodbye", "said goodbye"),
    "affirm": ("said yes", "said yes"),
    "deny": ("said no", "said no"),
    "share_media": ("sent a picture or file", "sent a picture or file"),
}
# Intents that quote the customer rather than paraphrase them: their words are the point.
QUOTED_INTENTS = {"complaint": "complained", "feedback": "gave feedback", "out_of_scope": "wrote"}
# Intents that say nothing about what the customer wants now.
SMALL_TALK = frozenset({"greet", "goodbye", "affirm", "deny", "thank", "share_media",
                        "unsupported_message", "nlu_fallback"})
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

    def sentiment_trend(self, recent: int = 20) -> str:
        """The mood over the customer's last `recent` messages: how they feel now, not last year."""
        return sentiment.trend(sentiment.score(m.text or "") for m in self.customer_messages[-recent:])

    def timeline(self, max_entries: int = 12) -> Tuple[TimelineEntry, ...]:
        """One entry per run of messages on the same day and channel, newest `max_entries`."""
        entries: List[Tuple[date, Optional[str], List[str]]] = []
        for message in self.messages:
            day = message.occurred_at.date()
            if not entries or entries[-1][:2] != (day, message.channel):
                entries.append((day, message.channel, []))
            entries[-1][2].append(phrase(message))
        return tuple(TimelineEntry(day, channel, "; ".join(_compact(parts)))
                     for day, channel, parts in entries[-max_entries:])

    def bot_already(self, count: int = 5) -> Tuple[str, ...]:
        """The bot's distinct answers (not to small talk), latest `count`, and how often it did
        not understand."""
        answers: List[str] = []
        answering: Optional[str] = None
        for message in self.messages:
            if message.author == "customer":
                answering = message.intent
            elif message.author == "bot" and answering not in COURTESIES:
                line = f"{channel_label(message.channel)}: {shorten(message.text, 140)}"
                if line in answers:
                    answers.remove(line)
                answers.append(line)
        tried = answers[-count:]
        missed = self.not_understood()
        if missed:
            tried.append(f"did not understand {len(missed)} message{'s' if len(missed) > 1 else ''} "
                         f"(last: “{shorten(missed[-1].text, 60)}”) and asked to rephrase")
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


def customer_phrase(message: InteractionRecord, *, quote: bool = True) -> str:
    """What a customer message meant, in a few words ("asked where order TL-48213 is").

    Complaints and messages the bot did not understand are quoted (their words are the
    point); with `quote=False` only the verb is given ("complained").
    """
    intent = message.intent or ""
    if understood(message) and intent in INTENT_PHRASES:
        with_entity, without = INTENT_PHRASES[intent]
        try:
            return with_entity.format(**entities_of(message))
        except KeyError:
            return without
    verb = QUOTED_INTENTS.get(intent, "wrote") if understood(message) else "wrote"
    return f"{verb}: “{shorten(message.text, 70)}”" if quote else verb


def phrase(message: InteractionRecord) -> str:
    if message.author == "customer":
        return customer_phrase(message)
    return f"{message.author} said “{shorten(message.text, 70)}”"


def _compact(parts: List[str], keep_first: int = 2, keep_last: int = 3) -> List[str]:
    """A long run keeps its start and end: the agent needs the shape, not every turn."""
    if len(parts) <= keep_first + keep_last + 1:
        return parts
    skipped = len(parts) - keep_first - keep_last
    return parts[:keep_first] + [f"… {skipped} more messages …"] + parts[-keep_last:]
