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
from threadline.handoff.journey import Journey, customer_phrase, understood
from threadline.nlu.intent_groups import SMALL_TALK
from threadline.handoff.languages import ENGLISH_WORDS, TRANSLATED_WORDS, Words
from threadline.handoff.rendering import reason_label, redact, shorten
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
        languages={words.language: in_language(journey, facts, reason, words) for words in TRANSLATED_WORDS},
    )
    settings = LlmSettings.from_env()
    if settings is None:
        return summary
    return await rewrite_with_llm(summary, facts.profile.display_name if facts.profile else None, settings)


def in_language(journey: Journey, facts: CrmFacts, reason: str, words: Words) -> dict:
    """The summary's sentences and lines for agents who read `words`' language (what
    `HandoffSummary.languages` holds); the customer's messages quoted as they wrote them."""
    return {
        "paragraph": paragraph(journey, facts, reason, words),
        "next_step": next_step(journey, facts, reason, words),
        "sentiment_trend": journey.sentiment_trend(words=words),
        "last_messages": [{"line": m.line_in(words)} for m in journey.last_messages()],
        "timeline": [{"line": e.line_in(words)} for e in journey.timeline(words=words)],
        "open_items": [{"line": i.line} for i in facts.open_items(words)],
        "bot_already": list(journey.bot_already(words=words)),
    }


def paragraph(journey: Journey, facts: CrmFacts, reason: str, words: Words = ENGLISH_WORDS) -> str:
    """At most ~80 words: who, what they want now, why a person is needed."""
    for shape in PARAGRAPH_SHAPES:
        text = _paragraph(journey, facts, reason, words, *shape)
        if len(text.split()) <= MAX_PARAGRAPH_WORDS:
            return text
    return text


def _paragraph(journey: Journey, facts: CrmFacts, reason: str, words: Words, earlier_count: int,
               quote_length: int, with_facts: bool) -> str:
    who = facts.first_name or words("The customer")
    customer = journey.customer_messages
    if not customer:
        return words("%(who)s has not written yet. Handed over because %(reason)s.", who=who,
                     reason=words.reason(reason))
    channels = _and([words.channel(c) for c in journey.channels()], words) or words("an unknown channel")
    sentences = [words("%(who)s has written on %(channels)s since %(day)s.", who=who, channels=channels,
                       day=words.day(customer[0].occurred_at))]
    current = journey.current()
    earlier = _earlier_topics(customer, current, words)[-earlier_count:] if earlier_count else []
    if earlier:
        sentences.append(words("Earlier they %(topics)s.", topics="; ".join(earlier)))
    quote = redact(shorten(current.text, quote_length))
    what = customer_phrase(current, quote=False, words=words)
    if current.channel:
        sentences.append(words("Now, on %(channel)s, they %(what)s: “%(quote)s”.",
                               channel=words.channel(current.channel), what=what, quote=quote))
    else:
        sentences.append(words("Now they %(what)s: “%(quote)s”.", what=what, quote=quote))
    highlights = _highlights(facts, reason, words) if with_facts else []
    if highlights:
        sentences.append(_capitalised("; ".join(highlights)) + ".")
    sentences.append(words("Handed over because %(reason)s.", reason=words.reason(reason)))
    return " ".join(sentences)


def _earlier_topics(customer: List[InteractionRecord], current: InteractionRecord,
                    words: Words = ENGLISH_WORDS) -> List[str]:
    topics: List[str] = []
    for message in customer:
        if message is current:
            break
        if understood(message) and message.intent not in SMALL_TALK:
            topic = f"{customer_phrase(message, quote=False, words=words)} ({words.channel(message.channel)})"
            if topic not in topics:
                topics.append(topic)
    return topics


def _highlights(facts: CrmFacts, reason: str, words: Words) -> List[str]:
    """The open items that change what the agent says first."""
    found: List[str] = []
    for order in facts.late_orders()[:1]:
        days = (facts.today - order.estimated_delivery).days
        found.append(words.plural("order %(order)s (%(product)s) is %(count)d day late",
                                  "order %(order)s (%(product)s) is %(count)d days late", days,
                                  order=order.id, product=order.product_name))
    if facts.profile and facts.profile.cases:
        case = facts.profile.cases[0]
        found.append(words("case #%(id)s (%(topic)s) is open", id=case.id, topic=words(case.topic.replace("_", " "))))
    if facts.profile and facts.profile.promises:
        promise = facts.profile.promises[0]
        overdue = words(", now overdue") if promise.due_date < facts.today else ""
        found.append(words("we promised “%(promise)s” by %(day)s%(overdue)s", promise=shorten(promise.text, 50),
                           day=words.day(promise.due_date), overdue=overdue))
    if reason == "sales_ready" and facts.profile and facts.profile.opportunities:
        lead = facts.profile.opportunities[0]
        found.append(words("the lead for %(what)s is at stage %(stage)s", what=lead.product or lead.plan,
                           stage=lead.stage))
    return found


def next_step(journey: Journey, facts: CrmFacts, reason: str, words: Words = ENGLISH_WORDS) -> str:
    name = facts.first_name or words("the customer")
    late = facts.late_orders()
    cases = facts.profile.cases if facts.profile else []
    promises = facts.profile.promises if facts.profile else []
    current = journey.current()
    if reason in ("complaint", "negative_sentiment"):
        if late:
            fix = words("check order %(order)s with %(carrier)s and give %(name)s a firm delivery date",
                        order=late[0].id, carrier=late[0].carrier or words("the carrier"), name=name)
        elif cases:
            fix = words("resolve case #%(id)s (%(topic)s)", id=cases[0].id,
                        topic=words(cases[0].topic.replace("_", " ")))
        else:
            fix = words("ask %(name)s what went wrong and what would put it right", name=name)
        step = words("Apologise and own the problem, then %(fix)s.", fix=fix)
    elif reason == "requested":
        earlier = _earlier_topics(journey.customer_messages, current, words) if current else []
        if current and current.intent != "request_human":
            step = words("Introduce yourself to %(name)s and pick up where they are: they %(what)s.", name=name,
                         what=customer_phrase(current, quote=False, words=words))
        elif earlier:  # asking for a person says little: what did they want before?
            step = words("Introduce yourself to %(name)s and pick up their last topic: they %(topic)s.",
                         name=name, topic=earlier[-1])
        else:
            step = words("Introduce yourself to %(name)s and ask how you can help.", name=name)
    elif reason == "not_understood":
        step = words("Ask %(name)s, in plain words, what they need; the bot could not understand their last "
                     "messages.", name=name)
    elif reason == "sales_ready":
        lead = facts.profile.opportunities[0] if facts.profile and facts.profile.opportunities else None
        what = words("the order")
        if lead:
            what = words("the %(what)s", what=lead.product or lead.plan) + (
                f" × {lead.quantity}" if lead.quantity else "")
        step = words("Close the sale: confirm %(what)s and the price, then payment and delivery.", what=what)
    else:  # sensitive_topic
        step = words("Answer %(name)s personally and carefully; check the policy before committing to anything.",
                     name=name)
    if promises and promises[0].due_date <= facts.today:
        promise = promises[0]
        if promise.due_date == facts.today:
            when = words("is due today")
        else:
            when = words("was due %(day)s and is overdue", day=words.day(promise.due_date))
        step += " " + words("Our promise “%(promise)s” %(when)s.", promise=shorten(promise.text, 50), when=when)
    return step


def _and(items: List[str], words: Words) -> str:
    if len(items) < 3:
        return words(" and ").join(items)
    return ", ".join(items[:-1]) + words(" and ") + items[-1]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


__all__ = ["generate_summary", "HandoffSummary"]
