"""Finders: what sits idle at `now`, as plain DueItems (issue #18). They read the CRM and write
nothing; `settle_promises` says which promises settle themselves, `SettlePromises` applies it.

Only customers who still exist and are not merged into another one are considered: a merged
customer's leads, promises and messages were moved to the survivor, whose items they become.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Collection, Dict, Iterable, List, Optional, Tuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.crm.models import (
    Agent, Case, Customer, Handoff, Interaction, Opportunity, OpportunityStageChange, Order, Promise)
from threadline.followups.items import DueItem
from threadline.followups.rules import STALL_STAGES, Rules
from threadline.insights.responses import COMMERCIAL_INTENTS, NOT_ANSWERS

# A purchase question older than its rule's wait plus this is history, not a follow-up: the
# first run over an old CRM must not write to everyone who ever asked a price.
INTENT_LOOKBACK = timedelta(days=7)
# Likewise an unanswered message older than its wait plus this is left to the Insights page.
UNANSWERED_LOOKBACK = timedelta(days=3)


def _live_customers(session: Session, ids: Iterable[str]) -> Dict[str, Customer]:
    ids = set(ids)
    if not ids:
        return {}
    rows = session.scalars(select(Customer).where(Customer.id.in_(ids), Customer.merged_into.is_(None)))
    return {c.id: c for c in rows}


def _last_messages(session: Session, customer_ids: Iterable[str],
                   own: Collection[str] = ()) -> Dict[str, Tuple[datetime, Optional[str]]]:
    """Per customer: the time of their last message (any author; not the follow-ups' own, the
    bot messages of responses `own`) and the channel they last wrote on."""
    ids = list(set(customer_ids))
    if not ids:
        return {}
    query = select(Interaction.customer_id, func.max(Interaction.occurred_at)).where(Interaction.customer_id.in_(ids))
    if own:
        query = query.where((Interaction.author != "bot") | Interaction.response.is_(None)
                            | Interaction.response.not_in(sorted(own)))
    last = dict(session.execute(query.group_by(Interaction.customer_id)).all())
    channels = {}
    latest_in = select(Interaction.customer_id, func.max(Interaction.occurred_at).label("at")).where(
        Interaction.customer_id.in_(ids), Interaction.author == "customer",
        Interaction.channel.is_not(None)).group_by(Interaction.customer_id).subquery()
    for customer_id, channel in session.execute(
            select(Interaction.customer_id, Interaction.channel).join(
                latest_in, (Interaction.customer_id == latest_in.c.customer_id)
                & (Interaction.occurred_at == latest_in.c.at)).where(Interaction.author == "customer")
            .order_by(Interaction.id)):
        channels[customer_id] = channel
    return {c: (at, channels.get(c)) for c, at in last.items()}


def stalled_leads(session: Session, now: datetime, rules: Rules) -> List[DueItem]:
    """Leads at qualified or later with no stage change and no message for their stage's wait."""
    rule = rules.kinds.get("stalled_lead")
    if rule is None:
        return []
    # Only the columns used: `value` is a Numeric SQLite stores as a float (SQLAlchemy warns on reading it).
    leads = list(session.execute(select(Opportunity.id, Opportunity.customer_id, Opportunity.product,
                                        Opportunity.plan, Opportunity.stage, Opportunity.created_at,
                                        Opportunity.channel).where(Opportunity.stage.in_(STALL_STAGES))))
    changed = dict(session.execute(select(OpportunityStageChange.opportunity_id, func.max(OpportunityStageChange.at))
                                   .where(OpportunityStageChange.opportunity_id.in_([o.id for o in leads]))
                                   .group_by(OpportunityStageChange.opportunity_id)).all()) if leads else {}
    customers = _live_customers(session, (o.customer_id for o in leads))
    # A follow-up's own message (sent, or refused by the provider) does not start a new stall:
    # only the customer, an agent, the bot's answers or the lead moving do.
    messages = _last_messages(session, customers, rules.responses())
    items = []
    for lead in leads:
        wait = rule.wait(lead.stage)
        if wait is None or lead.customer_id not in customers:
            continue
        last_message, channel = messages.get(lead.customer_id, (None, None))
        since = max(t for t in (changed.get(lead.id), last_message, lead.created_at) if t is not None)
        if now < since + wait:
            continue
        customer = customers[lead.customer_id]
        items.append(DueItem("stalled_lead", lead.customer_id, f"opportunity:{lead.id}", since, since + wait,
                             channel or lead.channel, {"product": lead.product or lead.plan or "",
                                                       "stage": lead.stage, "name": customer.display_name or ""}))
    return items


def settle_promises(session: Session, today: date, customers: Optional[Collection[str]] = None) -> List[Tuple[int, str]]:
    """(promise id, kept | broken) for open promises that settle themselves today: the case's
    order was delivered on or before the due date → kept; the due date passed without → broken."""
    settled = []
    query = select(Promise, Order).outerjoin(Case, Case.id == Promise.case_id).outerjoin(
        Order, Order.id == Case.order_id).where(Promise.status == "open")
    if customers is not None:
        query = query.where(Promise.customer_id.in_(list(customers)))
    rows = session.execute(query)
    for promise, order in rows:
        delivered = order is not None and order.delivered_on is not None
        if delivered and order.delivered_on <= promise.due_date:
            settled.append((promise.id, "kept"))
        elif promise.due_date < today:
            settled.append((promise.id, "broken"))
    return settled


def promises_due(session: Session, now: datetime, today: date, rules: Rules) -> List[DueItem]:
    """Promises due today or overdue that were not kept: open ones, and those settled as broken."""
    rule = rules.kinds.get("promise_due")
    if rule is None:
        return []
    kept = {pid for pid, status in settle_promises(session, today) if status == "kept"}
    rows = list(session.execute(select(Promise, Case).outerjoin(Case, Case.id == Promise.case_id).where(
        Promise.status.in_(("open", "broken")), Promise.due_date <= today)))
    customers = _live_customers(session, (p.customer_id for p, _ in rows))
    messages = _last_messages(session, customers)
    makers = {p.agent_id for p, _ in rows if p.agent_id}
    # An agent who left (deactivated) gets nothing: their promises go to the queue.
    active = set(session.scalars(select(Agent.id).where(Agent.id.in_(makers), Agent.active.is_(True)))) if makers else set()
    items = []
    for promise, case in rows:
        if promise.id in kept or promise.customer_id not in customers:
            continue
        since = datetime.combine(promise.due_date, datetime.min.time())
        if now < since + rule.wait():
            continue
        channel = messages.get(promise.customer_id, (None, None))[1] or (case.channel if case else None)
        items.append(DueItem("promise_due", promise.customer_id, f"promise:{promise.id}", since,
                             since + rule.wait(), channel,
                             {"promise": promise.text, "due_date": promise.due_date.isoformat(),
                              "order_id": (case.order_id or "") if case else "",
                              "name": customers[promise.customer_id].display_name or ""},
                             case_id=promise.case_id,
                             agent_id=promise.agent_id if promise.agent_id in active else None))
    return items


def unanswered(session: Session, now: datetime, rules: Rules) -> List[DueItem]:
    """Customers whose last message got no answer for the rule's wait: a handoff nobody claimed
    (the bot is paused, so that is the item), else a last message the bot never answered."""
    rule = rules.kinds.get("unanswered")
    if rule is None:
        return []
    wait = rule.wait()
    items: List[DueItem] = []
    waiting = list(session.scalars(select(Handoff).where(Handoff.status == "waiting",
                                                         Handoff.created_at <= now - wait)))  # never too old
    customers = _live_customers(session, (h.customer_id for h in waiting))
    with_handoff = set(session.scalars(select(Handoff.customer_id).where(Handoff.status.in_(("waiting", "assigned")))))
    for handoff in waiting:
        if handoff.customer_id in customers:
            items.append(DueItem("unanswered", handoff.customer_id, f"handoff:{handoff.id}", handoff.created_at,
                                 handoff.created_at + wait, handoff.channel,
                                 {"name": customers[handoff.customer_id].display_name or "", "reason": handoff.reason}))
    latest = select(Interaction.customer_id, func.max(Interaction.id).label("id")).where(
        Interaction.author.in_(("customer", "agent")) | (Interaction.author == "bot") & (
            Interaction.response.is_(None) | Interaction.response.not_in(sorted(NOT_ANSWERS)))
    ).group_by(Interaction.customer_id).subquery()
    last = list(session.scalars(select(Interaction).join(latest, Interaction.id == latest.c.id).where(
        Interaction.author == "customer", Interaction.occurred_at <= now - wait,
        Interaction.occurred_at > now - wait - UNANSWERED_LOOKBACK)))
    customers = _live_customers(session, (m.customer_id for m in last if m.customer_id not in with_handoff))
    for message in last:
        if message.customer_id in customers:
            items.append(DueItem("unanswered", message.customer_id, f"interaction:{message.id}", message.occurred_at,
                                 message.occurred_at + wait, message.channel,
                                 {"name": customers[message.customer_id].display_name or ""}))
    return items


def _product(entities: str) -> str:
    try:
        found = json.loads(entities or "[]")
    except ValueError:
        return ""
    for entity in found if isinstance(found, list) else []:
        if isinstance(entity, dict) and entity.get("entity") in ("product", "plan") and entity.get("value"):
            return str(entity["value"])
    return ""


def intents_without_order(session: Session, now: datetime, rules: Rules) -> List[DueItem]:
    """The customer's latest purchase intent or product question, older than the rule's wait (and
    younger than the wait plus INTENT_LOOKBACK), with no order placed since and no lead at
    qualified or later (the stalled-lead rule follows those)."""
    rule = rules.kinds.get("intent_without_order")
    if rule is None:
        return []
    wait = rule.wait()
    latest = select(Interaction.customer_id, func.max(Interaction.id).label("id")).where(
        Interaction.author == "customer", Interaction.intent.in_(sorted(COMMERCIAL_INTENTS)),
        Interaction.occurred_at <= now - wait, Interaction.occurred_at > now - wait - INTENT_LOOKBACK,
    ).group_by(Interaction.customer_id).subquery()
    asks = list(session.scalars(select(Interaction).join(latest, Interaction.id == latest.c.id)))
    customers = _live_customers(session, (a.customer_id for a in asks))
    ids = list(customers)
    ordered = dict(session.execute(select(Order.customer_id, func.max(Order.placed_at)).where(
        Order.customer_id.in_(ids)).group_by(Order.customer_id)).all()) if ids else {}
    leads = set(session.scalars(select(Opportunity.customer_id).where(
        Opportunity.customer_id.in_(ids), Opportunity.stage.in_(STALL_STAGES + ("won",))))) if ids else set()
    items = []
    for ask in asks:
        if ask.customer_id not in customers or ask.customer_id in leads:
            continue
        if ordered.get(ask.customer_id) is not None and ordered[ask.customer_id] >= ask.occurred_at:
            continue
        items.append(DueItem("intent_without_order", ask.customer_id, f"interaction:{ask.id}", ask.occurred_at,
                             ask.occurred_at + wait, ask.channel,
                             {"product": _product(ask.entities), "name": customers[ask.customer_id].display_name or ""}))
    return items


def find_due(session: Session, now: datetime, today: date, rules: Rules,
             customers: Optional[Collection[str]] = None) -> List[DueItem]:
    """Every due item at `now` (of `customers` only, for a pass after an event of theirs), in a
    stable order (oldest first)."""
    items = (stalled_leads(session, now, rules) + promises_due(session, now, today, rules)
             + unanswered(session, now, rules) + intents_without_order(session, now, rules))
    if customers is not None:
        items = [i for i in items if i.customer_id in set(customers)]
    return sorted(items, key=lambda i: (i.due_at, i.kind, i.subject))
