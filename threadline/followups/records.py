"""What the CRM records about follow-ups: one row per due item and action, claimed before
anything is sent (the unique key makes two racing workers agree on one owner), then finished
as sent, alerted, skipped or refused; promises settled; opt-outs; outcomes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Collection, Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import Interaction, OpportunityStageChange, Promise
from threadline.crm.models.followups import CustomerOptOut, FollowUp
from threadline.crm.opt_outs import opted_out as crm_opted_out
from threadline.followups.finders import settle_promises
from threadline.followups.guards import QUIET, why_not_message
from threadline.followups.items import DueItem
from threadline.followups.rules import Rules

ALREADY = "already_planned"


@dataclass(frozen=True)
class Claim:
    """The row a worker owns (`id`), or why it owns none: `reason` is ALREADY (another worker or
    an earlier tick has it), QUIET (try again later, nothing recorded) or a guard's skip code."""

    id: Optional[int]
    reason: Optional[str]


def claim(session: Session, item: DueItem, action: str, now: datetime, rules: Rules, zone: ZoneInfo,
          opted_out: bool = False, response: Optional[str] = None, cannot: Optional[str] = None) -> Claim:
    """Record `item`'s `action` as planned (ours to do) or skipped (a guard said no, or the sender
    `cannot`: no template for a closed window, context missing), once per key."""
    key = item.key(action)
    if session.scalar(select(FollowUp.id).where(FollowUp.key == key)) is not None:
        return Claim(None, ALREADY)
    why = why_not_message(session, item, now, rules, zone, opted_out) if action == "message" else None
    why = why or (cannot if action == "message" else None)
    if why == QUIET:
        return Claim(None, QUIET)
    row = FollowUp(key=key, kind=item.kind, action=action, customer_id=item.customer_id, subject=item.subject,
                   status="skipped" if why else "planned", reason=why, channel=item.channel, response=response,
                   context=json.dumps(item.context, ensure_ascii=False, sort_keys=True), due_at=item.due_at,
                   planned_at=now, done_at=now if why else None,
                   agent_id=item.agent_id if action == "alert" else None)
    session.add(row)
    session.flush()  # a concurrent claim of the same key fails here (unique), and is retried
    return Claim(None, why) if why else Claim(row.id, None)


def finish(session: Session, followup_id: int, status: str, now: datetime, reason: Optional[str] = None) -> None:
    session.execute(update(FollowUp).where(FollowUp.id == followup_id, FollowUp.status == "planned")
                    .values(status=status, reason=reason, done_at=now).execution_options(synchronize_session=False))


def sent_since(session: Session, since: datetime,
               customers: Optional[Collection[str]] = None) -> List[Tuple[int, str]]:
    """(id, key) of the follow-up messages sent at or after `since` (a failed receipt may still come)."""
    query = select(FollowUp.id, FollowUp.key).where(
        FollowUp.action == "message", FollowUp.status == "sent", FollowUp.done_at >= since)
    if customers is not None:
        query = query.where(FollowUp.customer_id.in_(list(customers)))
    return [(i, k) for i, k in session.execute(query)]


def refuse_sent(session: Session, followup_id: int, reason: str, now: datetime) -> None:
    """A sent follow-up did not reach the customer after all: refused, with the channel's reason."""
    session.execute(update(FollowUp).where(FollowUp.id == followup_id, FollowUp.status == "sent")
                    .values(status="refused", reason=reason, done_at=now, outcome=None, outcome_at=None)
                    .execution_options(synchronize_session=False))


class SettlePromises:
    """Mark open promises kept (their order came in time) or broken (the date passed)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, today: date, customers: Optional[Collection[str]] = None) -> Dict[str, int]:
        def work(session: Session) -> Dict[str, int]:
            counts = {"kept": 0, "broken": 0}
            for promise_id, status in settle_promises(session, today, customers):
                counts[status] += session.execute(update(Promise).where(
                    Promise.id == promise_id, Promise.status == "open").values(status=status)
                    .execution_options(synchronize_session=False)).rowcount
            return counts
        return await self.db.run(work, retry_conflicts=True)


def record_outcomes(session: Session, now: datetime, customers: Optional[Collection[str]] = None) -> List[Tuple[int, str]]:
    """The outcome of every sent (or alerted) follow-up that has none yet: opted_out (after it), won / advanced
    (its lead moved after it), replied (the customer wrote after it). First one found wins."""
    found = []
    # An alert's outcome closes its console task: the customer wrote, or the lead moved.
    query = select(FollowUp).where(FollowUp.status.in_(("sent", "alerted")), FollowUp.outcome.is_(None),
                                   FollowUp.done_at.is_not(None))
    if customers is not None:
        query = query.where(FollowUp.customer_id.in_(list(customers)))
    for row in session.scalars(query):
        outcome = None
        if crm_opted_out(session, row.customer_id, row.channel) and session.scalar(
                select(func.max(CustomerOptOut.at)).where(CustomerOptOut.customer_id == row.customer_id)) >= row.done_at:
            outcome = "opted_out"
        elif row.subject.startswith("opportunity:"):
            moved = session.scalars(select(OpportunityStageChange.stage).where(
                OpportunityStageChange.opportunity_id == int(row.subject.split(":", 1)[1]),
                OpportunityStageChange.at > row.done_at)).all()
            outcome = "won" if "won" in moved else "advanced" if [s for s in moved if s != "lost"] else None
        if outcome is None and session.scalar(select(Interaction.id).where(
                Interaction.customer_id == row.customer_id, Interaction.author == "customer",
                Interaction.occurred_at > row.done_at).limit(1)) is not None:
            outcome = "replied"
        if outcome:
            row.outcome, row.outcome_at = outcome, now
            found.append((row.id, outcome))
    return found
