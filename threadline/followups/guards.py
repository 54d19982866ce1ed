"""Guards: whether a customer may get a proactive message now (issue #18). Alerts to people are
never guarded: a person should hear about a stall even when the customer must not.

In order: the customer still exists (not merged, not erased); not opted out (the channel's own
record, such as SMS STOP, injected as `opted_out`, or the CRM's customer_opt_outs); no case open
other than the one the item is about (a complaint gets no promotion); no handoff in progress; a
channel to write on; at most one proactive message per `max_proactive_every`. Quiet hours do not
skip an item, they postpone it (`QUIET`): the next tick outside them sends it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.crm.models import Case, Customer, Handoff
from threadline.crm.models.followups import FollowUp
from threadline.crm.opt_outs import opted_out as crm_opted_out
from threadline.crm.models.handoffs import OPEN_STATUSES
from threadline.followups.items import DueItem
from threadline.followups.rules import Rules

QUIET = "quiet_hours"


def in_quiet_hours(rules: Rules, now: datetime, zone: ZoneInfo) -> bool:
    local = now.replace(tzinfo=timezone.utc).astimezone(zone)
    return rules.is_quiet(local.time())


def why_not_message(session: Session, item: DueItem, now: datetime, rules: Rules, zone: ZoneInfo,
                    opted_out: bool = False) -> Optional[str]:
    """None when `item`'s customer may be written to now; else the reason (a code for the record)."""
    customer = session.get(Customer, item.customer_id)
    if customer is None or customer.merged_into is not None:
        return "customer_gone"
    if opted_out or crm_opted_out(session, item.customer_id, item.channel):
        return "opted_out"
    other_case = select(Case.id).where(Case.customer_id == item.customer_id, Case.status == "open")
    if item.case_id is not None:
        other_case = other_case.where(Case.id != item.case_id)
    if session.scalar(other_case.limit(1)) is not None:
        return "open_case"
    if session.scalar(select(Handoff.id).where(Handoff.customer_id == item.customer_id,
                                               Handoff.status.in_(OPEN_STATUSES)).limit(1)) is not None:
        return "handoff_in_progress"
    if not item.channel:
        return "no_channel"
    if session.scalar(select(FollowUp.id).where(
            # planned too: another worker may be sending another item to this customer right now
            FollowUp.customer_id == item.customer_id, FollowUp.action == "message",
            FollowUp.status.in_(("planned", "sent")),
            FollowUp.planned_at >= now - rules.max_proactive_every).limit(1)) is not None:
        return "messaged_recently"
    if in_quiet_hours(rules, now, zone):
        return QUIET
    return None
