"""Hand-built CRM histories for the insights tests: rows written as the CRM writes them.

Times are given as local São Paulo wall time (UTC-3, no daylight saving time since 2019) and
stored as naive UTC, as the CRM stores them. 2 November 2026 is a Monday.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from itertools import count
from typing import Iterable, Optional, Sequence, Tuple

from threadline.crm import Database
from threadline.crm.models import (
    Case, ChannelIdentity, Customer, Handoff, Interaction, Opportunity, OpportunityStageChange, Order,
)
from threadline.crm.models.followups import FollowUp
from threadline.insights import InsightsConfig, Period, insights_report
from threadline.insights.business_hours import BusinessHours

HOURS = BusinessHours.parse("mon-fri 09:00-18:00", "America/Sao_Paulo")
CONFIG = InsightsConfig(hours=HOURS)
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30), HOURS)
AFTER = datetime(2026, 12, 20)  # as_of: every window of November is over


def local(day: int, hh: int = 10, mm: int = 0, ss: int = 0, month: int = 11) -> datetime:
    """A São Paulo wall time in 2026 as naive UTC."""
    return datetime(2026, month, day, hh, mm, ss) + timedelta(hours=3)


class History:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.keys = count(1)
        self.handoff_ids = count(1)

    def _add(self, *rows) -> None:
        def work(session):
            for row in rows:
                session.add(row)
            session.flush()
            return [getattr(r, "id", None) for r in rows]
        return self.database.transaction(work)

    def customer(self, customer_id: str, *, email: Optional[str] = None, phone: Optional[str] = None,
                 since: datetime = datetime(2026, 1, 1)) -> str:
        rows = [Customer(id=customer_id, created_at=since)]
        if email:
            rows.append(ChannelIdentity(customer_id=customer_id, channel="email", address=email,
                                        key=f"email:{email}", verified=True, source="inbound:email", created_at=since))
        if phone:
            rows.append(ChannelIdentity(customer_id=customer_id, channel="whatsapp", address=phone,
                                        key=f"phone:{phone}", verified=True, source="inbound:whatsapp",
                                        created_at=since))
        self._add(*rows)
        return customer_id

    def say(self, customer_id: str, author: str, at: datetime, channel: str = "whatsapp", *,
            intent: Optional[str] = None, confidence: Optional[float] = None, response: Optional[str] = None,
            entities: Sequence[Tuple[str, str]] = (), text: Optional[str] = None) -> int:
        if author == "customer" and intent and confidence is None:
            confidence = 0.95
        return self._add(Interaction(
            customer_id=customer_id, author=author, channel=channel, text=text or f"{author} message",
            intent=intent, confidence=confidence, response=response,
            entities=json.dumps([{"entity": e, "value": v} for e, v in entities]), occurred_at=at,
            idempotency_key=f"test:{next(self.keys)}"))[0]

    def order(self, customer_id: str, order_id: str, placed: datetime = datetime(2026, 10, 1)) -> None:
        self._add(Order(id=order_id, customer_id=customer_id, sku="LAMP-AUR", status="shipped", placed_at=placed))

    def opportunity(self, customer_id: str, stages: Iterable[Tuple[datetime, str]], *, channel: str = "whatsapp",
                    product: str = "Aurora Desk Lamp") -> int:
        stages = list(stages)
        [opportunity_id] = self._add(Opportunity(
            customer_id=customer_id, product=product, stage=stages[-1][1], channel=channel, created_at=stages[0][0],
            last_touch_at=stages[-1][0]))
        self._add(*[OpportunityStageChange(opportunity_id=opportunity_id, stage=s, at=t) for t, s in stages])
        return opportunity_id

    def case(self, customer_id: str, topic: str, opened: datetime, resolved: Optional[datetime] = None,
             order_id: Optional[str] = None) -> int:
        return self._add(Case(customer_id=customer_id, topic=topic, order_id=order_id, channel="whatsapp",
                              created_at=opened, status="resolved" if resolved else "open", resolved_at=resolved))[0]

    def handoff(self, customer_id: str, opened: datetime, *, reason: str = "complaint", channel: str = "whatsapp",
                resolved: Optional[datetime] = None, label: Optional[str] = None,
                summary: Optional[dict] = None, summary_text: str = "") -> str:
        handoff_id = f"hof_test_{next(self.handoff_ids)}"
        self._add(Handoff(id=handoff_id, customer_id=customer_id, status="resolved" if resolved else "waiting",
                          reason=reason, priority=1, channel=channel, created_at=opened, resolved_at=resolved,
                          resolution="closed" if resolved else None, close_label=label,
                          summary_text=summary_text,
                          summary_json=json.dumps(summary if summary is not None else
                                                  {"intent": "complaint", "channels": [channel]})))
        return handoff_id

    def followup(self, customer_id: str, kind: str, subject: str, done: datetime, *, action: str = "message",
                 status: str = "sent", reason: Optional[str] = None, outcome: Optional[str] = None,
                 channel: str = "whatsapp") -> None:
        """A follow-up as the worker records it, planned and finished at `done`."""
        self._add(FollowUp(key=f"{kind}:{subject}:{next(self.keys)}:{action}", kind=kind, action=action,
                           customer_id=customer_id, subject=subject, status=status, reason=reason, channel=channel,
                           due_at=done, planned_at=done, done_at=done, outcome=outcome,
                           outcome_at=done if outcome else None))

    def report(self, *, channel: Optional[str] = None, as_of: datetime = AFTER, period: Period = NOVEMBER,
               config: InsightsConfig = CONFIG):
        return insights_report(self.database, period, channel, as_of=as_of, config=config)

    def metric(self, name: str, **kwargs):
        return self.report(**kwargs).metrics[name]
