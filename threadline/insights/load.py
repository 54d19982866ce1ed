"""Reading the rows the metrics need from the CRM database (a scan; docs/insights.md says what
replaces it at scale).

Scope: every customer who wrote or was written to from a day before the range until its end,
and every customer with an opportunity still open or changed since the range began; for them,
all their history up to `as_of` (facts known earlier, what happened after a cycle).
"""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Dict, List

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import (
    Case, ChannelIdentity, Handoff, Interaction, Opportunity, OpportunityStageChange, Order,
)
from threadline.crm.models.sales import OPEN_STAGES
from threadline.insights.csat import read_csat
from threadline.insights.followups import merged, read_followups
from threadline.insights.model import CaseRow, Dataset, HandoffRow, KnownFact, Message, OpportunityRow
from threadline.insights.responses import normalised


def _entities(raw: str) -> tuple:
    try:
        listed = json.loads(raw or "[]")
    except ValueError:
        return ()
    return tuple((str(e.get("entity")), str(e.get("value"))) for e in listed
                 if isinstance(e, dict) and e.get("entity") and e.get("value") is not None)


def read_dataset(session: Session, start: datetime, end: datetime, as_of: datetime) -> Dataset:
    scope = select(Interaction.customer_id).where(
        Interaction.occurred_at >= start - timedelta(days=1), Interaction.occurred_at < end,
    ).union(select(Opportunity.customer_id).where(
        Opportunity.created_at < end, or_(Opportunity.stage.in_(OPEN_STAGES), Opportunity.last_touch_at >= start)))
    scoped = scope.subquery()
    return read_customers(session, select(scoped.c.customer_id), as_of, csat=read_csat(session, start, end),
                          followups=read_followups(session, start=start, end=end))


def read_customers(session: Session, ids, as_of: datetime, csat: tuple = (), followups: tuple = ()) -> Dataset:
    """All the rows of the customers `ids` (a list or a select of ids) up to `as_of`; `csat` and
    `followups` are the range's, whoever they concern."""
    messages = tuple(
        Message(r.id, r.customer_id, r.author, r.channel, r.occurred_at, r.intent, r.confidence,
                _entities(r.entities), r.response, r.text)
        for r in session.execute(select(
            Interaction.id, Interaction.customer_id, Interaction.author, Interaction.channel,
            Interaction.occurred_at, Interaction.intent, Interaction.confidence, Interaction.entities,
            Interaction.response, Interaction.text,
        ).where(Interaction.customer_id.in_(ids), Interaction.occurred_at <= as_of)))
    handoffs = tuple(
        HandoffRow(h.id, h.customer_id, h.reason, h.channel, h.created_at, h.resolved_at, h.resolution,
                   h.close_label, _summary(h.summary_json), h.summary_text or "")
        for h in session.scalars(select(Handoff).where(Handoff.customer_id.in_(ids), Handoff.created_at <= as_of)))
    stage_rows: Dict[int, List[tuple]] = defaultdict(list)
    opportunity_rows = session.execute(select(  # not `value`: SQLite has no decimals
        Opportunity.id, Opportunity.customer_id, Opportunity.product, Opportunity.plan, Opportunity.stage,
        Opportunity.channel, Opportunity.created_at,
    ).where(Opportunity.customer_id.in_(ids), Opportunity.created_at <= as_of)).all()
    for change in session.scalars(select(OpportunityStageChange).join(
            Opportunity, Opportunity.id == OpportunityStageChange.opportunity_id).where(
            Opportunity.customer_id.in_(ids))):
        stage_rows[change.opportunity_id].append((change.at, change.stage))
    opportunities = tuple(
        OpportunityRow(o.id, o.customer_id, o.product, o.plan, o.stage, o.channel, o.created_at,
                       tuple(sorted(stage_rows.get(o.id) or [(o.created_at, o.stage)])))
        for o in opportunity_rows)
    cases = tuple(CaseRow(c.id, c.customer_id, c.topic, c.order_id, c.created_at, c.resolved_at)
                  for c in session.scalars(select(Case).where(Case.customer_id.in_(ids), Case.created_at <= as_of)))
    facts: List[KnownFact] = []
    for identity in session.scalars(select(ChannelIdentity).where(ChannelIdentity.customer_id.in_(ids))):
        kind, _, value = identity.key.partition(":")
        if kind in ("email", "phone") and value:
            facts.append(KnownFact(identity.customer_id, kind, normalised(kind, value), identity.created_at))
    for order in session.scalars(select(Order).where(Order.customer_id.in_(ids))):
        facts.append(KnownFact(order.customer_id, "order_id", normalised("order_id", order.id), order.placed_at))
    for o in opportunity_rows:
        if o.product:
            facts.append(KnownFact(o.customer_id, "product", normalised("product", o.product), o.created_at))
    return Dataset(messages, handoffs, opportunities, cases, tuple(facts), csat=csat,
                   followups=merged(followups, read_followups(session, ids=ids, as_of=as_of)))


def _summary(raw: str) -> dict:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def load_dataset(database: Database, start: datetime, end: datetime, as_of: datetime) -> Dataset:
    return database.transaction(lambda session: read_dataset(session, start, end, as_of))
