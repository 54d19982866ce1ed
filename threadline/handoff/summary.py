"""The handoff summary: what an agent reads first when a conversation is handed over (issue #9).

`generate_summary` reads the customer's whole tracker (every session and channel) and the CRM
(profile, open items, orders) and writes a `HandoffSummary`. Every part is deterministic and
offline. When an OpenAI-compatible LLM is configured (`SUMMARY_LLM_*`, see summary_llm.py) it
rewrites only the paragraph and the next step from the same, redacted facts; on any failure
the deterministic words stay.
"""
from __future__ import annotations

from datetime import datetime
from typing import List

from threadline.crm.interface import InteractionRecord
from threadline.handoff.crm_facts import CrmFacts, read_crm_facts
from threadline.handoff.journey import SMALL_TALK, Journey, customer_phrase, understood
from threadline.handoff.rendering import channel_label, day_label, reason_label, redact, shorten
from threadline.handoff.summary_llm import LlmSettings, rewrite_with_llm
from threadline.handoff.summary_model import HandoffSummary

MAX_PARAGRAPH_WORDS = 80
# From the most detailed paragraph to the shortest: (earlier topics, quote length, facts).
# The quote gives way first: the earlier topics are what the agent cannot see at a glance.
PARAGRAPH_SHAPES = ((3, 100, True), (3, 60, True), (3, 35, True), (2, 35, True), (1, 35, True),
                    (0, 35, True), (0, 35, False))


async def generate_summary(customer_id: str, *, crm, tracker_events: list[dict], reason: str) -> HandoffSummary:
    """The summary for handing `customer_id` over to a person for `reason`.

    `crm` is a `CrmServices` (CRM and order book) or a bare `Crm`; `tracker_events` is the
    customer's full tracker as Rasa event dicts; `reason` is one of `rendering.REASONS`.
    """
    reason_label(reason)  # an unknown reason is a caller's bug: fail before any I/O
    journey = Journey.from_events(customer_id, tracker_events)
    now = datetime.utcnow()
    facts = await read_crm_facts(crm, customer_id, journey.mentioned("order_id"), now.date())
    current = journey.current()
    summary = HandoffSummary(
        customer_id=customer_id, reason=reason,
        paragraph=paragraph(journey, facts, reason),
        intent=current.intent if current else None,
        last_messages=journey.last_messages(), timeline=journey.timeline(),
        open_items=facts.open_items(), bot_already=journey.bot_already(),
        sentiment_trend=journey.sentiment_trend(), next_step=next_step(journey, facts, reason),
        channels=journey.channels(), generated_at=now,
    )
    settings = LlmSettings.from_env()
    if settings is None:
        return summary
    return await rewrite_with_llm(summary, facts.profile.display_name if facts.profile else None, settings)


def paragraph(journey: Journey, facts: CrmFacts, reason: str) -> str:
    """At most ~80 words: who, what they want now, why a person is needed."""
    for shape in PARAGRAPH_SHAPES:
        text = _paragraph(journey, facts, reason, *shape)
        if len(text.split()) <= MAX_PARAGRAPH_WORDS:
            return text
    return text


def _paragraph(journey: Journey, facts: CrmFacts, reason: str, earlier_count: int,
               quote_length: int, with_facts: bool) -> str:
    who = facts.first_name or "The customer"
    customer = journey.customer_messages
    if not customer:
        return f"{who} has not written yet. Handed over because {reason_label(reason)}."
    channels = _and([channel_label(c) for c in journey.channels()]) or "an unknown channel"
    sentences = [f"{who} has written on {channels} since {day_label(customer[0].occurred_at)}."]
    current = journey.current()
    earlier = _earlier_topics(customer, current)[-earlier_count:] if earlier_count else []
    if earlier:
        sentences.append(f"Earlier they {'; '.join(earlier)}.")
    quote = redact(shorten(current.text, quote_length))
    where = f", on {channel_label(current.channel)}," if current.channel else ""
    sentences.append(f"Now{where} they {customer_phrase(current, quote=False)}: “{quote}”.")
    highlights = _highlights(facts, reason) if with_facts else []
    if highlights:
        sentences.append(_capitalised("; ".join(highlights)) + ".")
    sentences.append(f"Handed over because {reason_label(reason)}.")
    return " ".join(sentences)


def _earlier_topics(customer: List[InteractionRecord], current: InteractionRecord) -> List[str]:
    topics: List[str] = []
    for message in customer:
        if message is current:
            break
        if understood(message) and message.intent not in SMALL_TALK:
            topic = f"{customer_phrase(message, quote=False)} ({channel_label(message.channel)})"
            if topic not in topics:
                topics.append(topic)
    return topics


def _highlights(facts: CrmFacts, reason: str) -> List[str]:
    """The open items that change what the agent says first."""
    found: List[str] = []
    for order in facts.late_orders()[:1]:
        days = (facts.today - order.estimated_delivery).days
        found.append(f"order {order.id} ({order.product_name}) is {days} day{'s' if days > 1 else ''} late")
    if facts.profile and facts.profile.cases:
        case = facts.profile.cases[0]
        found.append(f"case #{case.id} ({case.topic.replace('_', ' ')}) is open")
    if facts.profile and facts.profile.promises:
        promise = facts.profile.promises[0]
        overdue = ", now overdue" if promise.due_date < facts.today else ""
        found.append(f"we promised “{shorten(promise.text, 50)}” by {day_label(promise.due_date)}{overdue}")
    if reason == "sales_ready" and facts.profile and facts.profile.opportunities:
        lead = facts.profile.opportunities[0]
        found.append(f"the lead for {lead.product or lead.plan} is at stage {lead.stage}")
    return found


def next_step(journey: Journey, facts: CrmFacts, reason: str) -> str:
    name = facts.first_name or "the customer"
    late = facts.late_orders()
    cases = facts.profile.cases if facts.profile else []
    promises = facts.profile.promises if facts.profile else []
    current = journey.current()
    if reason in ("complaint", "negative_sentiment"):
        if late:
            fix = (f"check order {late[0].id} with {late[0].carrier or 'the carrier'} and give {name} "
                   f"a firm delivery date")
        elif cases:
            fix = f"resolve case #{cases[0].id} ({cases[0].topic.replace('_', ' ')})"
        else:
            fix = f"ask {name} what went wrong and what would put it right"
        step = f"Apologise and own the problem, then {fix}."
    elif reason == "requested":
        earlier = _earlier_topics(journey.customer_messages, current) if current else []
        if current and current.intent != "request_human":
            step = f"Introduce yourself to {name} and pick up where they are: they {customer_phrase(current, quote=False)}."
        elif earlier:  # asking for a person says little: what did they want before?
            step = f"Introduce yourself to {name} and pick up their last topic: they {earlier[-1]}."
        else:
            step = f"Introduce yourself to {name} and ask how you can help."
    elif reason == "not_understood":
        step = f"Ask {name}, in plain words, what they need; the bot could not understand their last messages."
    elif reason == "sales_ready":
        lead = facts.profile.opportunities[0] if facts.profile and facts.profile.opportunities else None
        what = "the order"
        if lead:
            what = f"the {lead.product or lead.plan}" + (f" × {lead.quantity}" if lead.quantity else "")
        step = f"Close the sale: confirm {what} and the price, then payment and delivery."
    else:  # sensitive_topic
        step = f"Answer {name} personally and carefully; check the policy before committing to anything."
    if promises and promises[0].due_date <= facts.today:
        promise = promises[0]
        when = "is due today" if promise.due_date == facts.today else (
            f"was due {day_label(promise.due_date)} and is overdue")
        step += f" Our promise “{shorten(promise.text, 50)}” {when}."
    return step


def _and(items: List[str]) -> str:
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


__all__ = ["generate_summary", "HandoffSummary"]
