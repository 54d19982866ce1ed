"""Handoff records: open one, read the queue, and the audit trail every change leaves.

A customer has at most one open (waiting or assigned) handoff: `OpenHandoff` returns the open
one instead of making a second, and a partial unique index enforces it against races.
Blocking SQL runs through `Database.run`; the helpers taking a `Session` are for other
operations (the console's claim, reply, note, hand back, close) to compose in one transaction.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.crm.db import Database
from threadline.crm.models import Handoff, HandoffEvent
from threadline.crm.models.handoffs import EVENT_KINDS, OPEN_STATUSES, REASONS
from threadline.crm.models.base import utcnow
from threadline.crm.sql_backend import ensure_customer

BOT = "bot"

# Who waits least: a sensitive topic or an upset customer before a lead before a confused bot.
DEFAULT_PRIORITY = {
    "sensitive_topic": 1, "complaint": 1, "negative_sentiment": 1,
    "requested": 2, "sales_ready": 2,
    "not_understood": 3,
}


@dataclass(frozen=True)
class HandoffView:
    id: str
    customer_id: str
    status: str
    reason: str
    priority: int
    channel: Optional[str]
    summary_text: str
    summary: dict
    assigned_agent_id: Optional[str]
    created_at: datetime
    assigned_at: Optional[datetime]
    resolved_at: Optional[datetime]
    resolution: Optional[str]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_dict(self) -> dict:
        def stamp(moment: Optional[datetime]) -> Optional[str]:
            return moment.isoformat() + "Z" if moment else None

        return {
            "id": self.id, "customer_id": self.customer_id, "status": self.status,
            "reason": self.reason, "priority": self.priority, "channel": self.channel,
            "summary_text": self.summary_text, "summary": self.summary,
            "assigned_agent_id": self.assigned_agent_id, "created_at": stamp(self.created_at),
            "assigned_at": stamp(self.assigned_at), "resolved_at": stamp(self.resolved_at),
            "resolution": self.resolution,
        }


def handoff_view(row: Handoff) -> HandoffView:
    return HandoffView(
        row.id, row.customer_id, row.status, row.reason, row.priority, row.channel,
        row.summary_text, json.loads(row.summary_json or "{}"), row.assigned_agent_id,
        row.created_at, row.assigned_at, row.resolved_at, row.resolution,
    )


def record_event(session: Session, handoff_id: str, actor: str, kind: str, detail: str = "") -> HandoffEvent:
    """Append to a handoff's audit trail (actor: an agent id or `bot`)."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown handoff event kind {kind!r}")
    event = HandoffEvent(handoff_id=handoff_id, actor=actor, kind=kind, detail=detail, at=utcnow())
    session.add(event)
    session.flush()
    return event


def open_row_for(session: Session, customer_id: str) -> Optional[Handoff]:
    return session.scalars(select(Handoff).where(
        Handoff.customer_id == customer_id, Handoff.status.in_(OPEN_STATUSES)).limit(1)).first()


@dataclass(frozen=True)
class Opened:
    handoff: HandoffView
    created: bool  # False: the customer already had this open handoff


class OpenHandoff:
    """Escalate a customer: a waiting handoff with its reason, priority and summary."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def __call__(self, customer_id: str, *, reason: str, channel: Optional[str],
                       summary_text: str, summary: dict, priority: Optional[int] = None) -> Opened:
        if reason not in REASONS:
            raise ValueError(f"unknown handoff reason {reason!r}")
        priority = priority or DEFAULT_PRIORITY[reason]

        def work(session: Session) -> Opened:
            existing = open_row_for(session, customer_id)
            if existing is not None:
                return Opened(handoff_view(existing), False)
            ensure_customer(session, customer_id)
            row = Handoff(id="hof_" + secrets.token_hex(10), customer_id=customer_id, status="waiting",
                          reason=reason, priority=priority, channel=channel, summary_text=summary_text,
                          summary_json=json.dumps(summary, default=str), created_at=utcnow())
            session.add(row)
            session.flush()
            record_event(session, row.id, BOT, "opened", f"reason={reason} priority={priority}")
            return Opened(handoff_view(row), True)

        # A concurrent open for the same customer loses on the unique index; the retry finds it.
        return await self.database.run(work, retry_conflicts=True)


async def open_handoffs(database: Database) -> List[HandoffView]:
    """The queue: waiting and assigned handoffs, most urgent first, then longest waiting."""
    def work(session: Session) -> List[HandoffView]:
        rows = session.scalars(select(Handoff).where(Handoff.status.in_(OPEN_STATUSES))
                               .order_by(Handoff.priority, Handoff.created_at, Handoff.id)).all()
        return [handoff_view(r) for r in rows]

    return await database.run(work)


async def get_handoff(database: Database, handoff_id: str) -> Optional[HandoffView]:
    def work(session: Session) -> Optional[HandoffView]:
        row = session.get(Handoff, handoff_id)
        return handoff_view(row) if row else None

    return await database.run(work)


async def open_handoff_for(database: Database, customer_id: str) -> Optional[HandoffView]:
    def work(session: Session) -> Optional[HandoffView]:
        row = open_row_for(session, customer_id)
        return handoff_view(row) if row else None

    return await database.run(work)


@dataclass(frozen=True)
class HandoffEventView:
    at: datetime
    actor: str
    kind: str
    detail: str


async def handoff_events(database: Database, handoff_id: str) -> List[HandoffEventView]:
    """The audit trail of one handoff, oldest first."""
    def work(session: Session) -> List[HandoffEventView]:
        rows = session.scalars(select(HandoffEvent).where(HandoffEvent.handoff_id == handoff_id)
                               .order_by(HandoffEvent.at, HandoffEvent.id)).all()
        return [HandoffEventView(r.at, r.actor, r.kind, r.detail) for r in rows]

    return await database.run(work)
