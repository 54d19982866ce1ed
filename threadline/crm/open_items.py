"""A customer's open items (leads, cases, promises) as plain data, for operators and the console."""
from __future__ import annotations

from typing import Dict, List

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.crm.models import Case, Opportunity, Promise
from threadline.crm.models.sales import OPEN_STAGES


def open_items(session: Session, customer_id: str) -> Dict[str, List[dict]]:
    opportunities = session.scalars(select(Opportunity).where(
        Opportunity.customer_id == customer_id, Opportunity.stage.in_(OPEN_STAGES)).order_by(Opportunity.id))
    cases = session.scalars(select(Case).where(
        Case.customer_id == customer_id, Case.status == "open").order_by(Case.id))
    promises = session.scalars(select(Promise).where(
        Promise.customer_id == customer_id, Promise.status == "open").order_by(Promise.due_date, Promise.id))
    return {
        "opportunities": [{"id": o.id, "product": o.product, "plan": o.plan, "stage": o.stage,
                           "quantity": o.quantity, "value": None if o.value is None else str(o.value),
                           "next_step": o.next_step, "channel": o.channel,
                           "last_touch_at": o.last_touch_at.isoformat()} for o in opportunities],
        "cases": [{"id": c.id, "topic": c.topic, "order_id": c.order_id, "channel": c.channel,
                   "opened_at": c.created_at.isoformat()} for c in cases],
        "promises": [{"id": p.id, "text": p.text, "due_date": p.due_date.isoformat(), "case_id": p.case_id}
                     for p in promises],
    }
