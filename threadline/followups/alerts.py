"""Alerts to people (issue #18): a follow-up task in the console queue, beside the handoffs, with
the rule's priority, a context summary and a suggested message; and the HANDOFF_WEBHOOK_URL
notification when one is configured. The task stays in the queue until the follow-up has an
outcome (the customer wrote again, the lead moved: records.record_outcomes).

The summary is built from the CRM only (the item's facts and the customer's open items), so it
can be written for any customer at any time; it is plain facts for agents, written in each
language agents read (words.py; the console shows the agent's). The suggested message is for the
customer, so it is in the customer's language, whoever reads it.
"""
from __future__ import annotations

import json
import os
from datetime import date
from typing import Any, Dict, List, Mapping, Optional

from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import Customer
from threadline.crm.models.followups import FollowUp
from threadline.crm.open_items import open_items
from threadline.followups.items import DueItem
from threadline.followups.messages import MissingContext, fill, pick_variant
from threadline.followups.rules import Rule
from threadline.followups.words import ALL_WORDS, TaskWords
from threadline.handoff.languages import Words, marked
from threadline.handoff.notify import escape_markup, post_notification
from threadline.settings import DEFAULT_CONSOLE_PORT

# The stalled-lead stages (rules.STALL_STAGES) as words, marked for the catalogue (words.py).
STAGE_WORDS = {"qualified": marked("qualified"), "proposal": marked("proposal")}


def summary_of(item: DueItem, items: Mapping[str, List[dict]], words: TaskWords = ALL_WORDS[0]) -> str:
    """What sits idle, since when, and what else is open for this customer, in `words`' language."""
    c, common = item.context, words.common
    since = common.moment(item.since)
    if item.kind == "stalled_lead":
        head = words("Lead for %(product)s at %(stage)s: no message or stage change since %(since)s.",
                     product=c.get("product") or words("a product"),
                     stage=words(STAGE_WORDS.get(c.get("stage") or "", c.get("stage") or "")), since=since)
    elif item.kind == "promise_due":
        due = _day(common, c.get("due_date"))
        head = (words("Promise due %(due)s (order %(order)s) not kept yet: %(promise)s.", due=due,
                      order=c["order_id"], promise=c.get("promise")) if c.get("order_id")
                else words("Promise due %(due)s not kept yet: %(promise)s.", due=due, promise=c.get("promise")))
    elif item.kind == "unanswered":
        head = (words("Handoff (%(reason)s) waiting for an agent since %(since)s.",
                      reason=_reason(common, c.get("reason")), since=since) if item.subject.startswith("handoff:")
                else words("The customer's last message has had no answer since %(since)s.", since=since))
    else:
        head = (words("Asked about %(product)s on %(since)s; no order since.", product=c["product"], since=since)
                if c.get("product") else words("Asked about buying on %(since)s; no order since.", since=since))
    counts = _open_counts(words, items)
    parts = [head]
    if counts:
        parts.append(words("Open: %(items)s.", items=", ".join(counts)))
    if item.channel:
        parts.append(words("Last channel: %(channel)s.", channel=common.channel(item.channel)))
    return " ".join(parts)


def summaries_of(item: DueItem, items: Mapping[str, List[dict]]) -> Dict[str, str]:
    """The summary in every language agents read: {"en": ..., "pt": ...}."""
    return {words.language: summary_of(item, items, words) for words in ALL_WORDS}


def _open_counts(words: TaskWords, items: Mapping[str, List[dict]]) -> List[str]:
    counts = []
    if items.get("opportunities"):
        counts.append(words.plural("%(count)d lead", "%(count)d leads", len(items["opportunities"])))
    if items.get("cases"):
        counts.append(words.plural("%(count)d case", "%(count)d cases", len(items["cases"])))
    if items.get("promises"):
        counts.append(words.plural("%(count)d promise", "%(count)d promises", len(items["promises"])))
    return counts


def _day(common: Words, due: Optional[str]) -> str:
    try:
        return common.day(date.fromisoformat(due or ""))
    except ValueError:
        return due or ""


def _reason(common: Words, reason: Optional[str]) -> str:
    try:
        return common.reason(reason or "")
    except ValueError:  # a reason the handoff summary does not know: said as stored
        return (reason or "").replace("_", " ")


def console_base() -> str:
    base = os.environ.get("HANDOFF_CONSOLE_URL", "").strip().rstrip("/")
    return base or f"http://127.0.0.1:{os.environ.get('CONSOLE_PORT', '').strip() or DEFAULT_CONSOLE_PORT}"


class ConsoleAlert:
    """Turn a claimed alert into a console task (and the optional webhook notification)."""

    def __init__(self, db: Database, responses: Mapping[str, List[Dict[str, Any]]]) -> None:
        self.db = db
        self.responses = responses

    def suggested(self, item: DueItem, rule: Rule, language: Optional[str]) -> Optional[str]:
        if not rule.response:
            return None
        try:
            return fill(pick_variant(self.responses[rule.response], item.channel or "", language)["text"],
                        item.context, language)
        except MissingContext:
            return None

    async def __call__(self, item: DueItem, rule: Rule, followup_id: int) -> None:
        def write(session: Session) -> str:
            customer = session.get(Customer, item.customer_id)
            row = session.get(FollowUp, followup_id)
            row.priority = rule.priority
            summaries = summaries_of(item, open_items(session, item.customer_id))
            row.summary_text = summaries.pop(ALL_WORDS[0].language)
            row.summary_languages = json.dumps(summaries, ensure_ascii=False)
            row.suggested_text = self.suggested(item, rule, customer.language if customer else None)
            return row.summary_text
        summary = await self.db.run(write)
        url = os.environ.get("HANDOFF_WEBHOOK_URL", "").strip()
        if url:  # a courtesy, like the handoff's: it never fails the pass
            await post_notification(url, f"Follow-up ({item.kind}): {escape_markup(summary)}\n{console_base()}/")
