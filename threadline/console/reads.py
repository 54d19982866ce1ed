"""What the console shows, read from the CRM database: a conversation's page and what is new.

The queue and the handoff come from threadline/handoff/store.py; this adds the customer's
cross-channel timeline (CRM interactions, all channels and sessions), profile, open items,
internal notes and the channels an agent can reply on. The timeline is the embedded CRM's
(`interactions`), which the CRM timeline consumer fills within about a second.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional

from sqlalchemy import select

from threadline.crm import Database
from threadline.crm.timeline import UNANSWERED, UNVERIFIED
from threadline.crm.models import Agent, Customer, Handoff, HandoffEvent, Interaction
from threadline.crm.models.followups import FollowUp
from threadline.handoff.agent_operations import reply_channels
from threadline.handoff.store import HandoffView, handoff_view
from threadline.identity import directory
from threadline.identity.lookup import describe

TIMELINE_LIMIT = 200


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    author: str  # customer | bot | agent
    channel: Optional[str]
    text: str
    at: datetime
    unverified_sender: bool = False  # email whose From address was not authenticated
    unanswered: bool = False  # mail that arrived before Threadline started, never answered


@dataclass(frozen=True)
class Note:
    agent: str
    text: str
    at: datetime


@dataclass(frozen=True)
class Conversation:
    handoff: HandoffView
    assigned_agent: Optional[str]
    profile: dict  # threadline.identity.lookup.describe: identities, open items
    timeline: List[TimelineEntry]
    notes: List[Note]
    reply_channels: List[str]


def _entries(session, customer_id: str, after_id: int = 0) -> List[TimelineEntry]:
    rows = session.scalars(select(Interaction).where(
        Interaction.customer_id == customer_id, Interaction.id > after_id)
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(TIMELINE_LIMIT)).all()
    return [TimelineEntry(r.id, r.author, r.channel, r.text or "", r.occurred_at,
                          unverified_sender=r.delivery_status == UNVERIFIED,
                          unanswered=r.delivery_status == UNANSWERED)
            for r in reversed(rows)]


def _agent_names(session) -> dict:
    return dict(session.execute(select(Agent.id, Agent.name)).all())


async def conversation(db: Database, handoff_id: str) -> Optional[Conversation]:
    def work(session) -> Optional[Conversation]:
        row = session.get(Handoff, handoff_id)
        if row is None:
            return None
        customer_id = directory.canonical_customer(session, row.customer_id)
        names = _agent_names(session)
        notes = session.scalars(select(HandoffEvent).where(
            HandoffEvent.handoff_id == handoff_id, HandoffEvent.kind == "noted")
            .order_by(HandoffEvent.at, HandoffEvent.id)).all()
        return Conversation(
            handoff=handoff_view(row), assigned_agent=names.get(row.assigned_agent_id),
            profile=describe(session, customer_id), timeline=_entries(session, customer_id),
            notes=[Note(names.get(n.actor, n.actor), n.detail, n.at) for n in notes],
            reply_channels=reply_channels(session, customer_id))

    return await db.run(work)


async def timeline_after(db: Database, customer_id: str, after_id: int) -> List[TimelineEntry]:
    """The customer's timeline entries newer than `after_id` (for live updates)."""
    return await db.run(lambda s: _entries(s, directory.canonical_customer(s, customer_id), after_id))


@dataclass(frozen=True)
class UnansweredMail:
    customer_id: str
    channel: Optional[str]
    at: datetime


async def unanswered_mail(db: Database, limit: int) -> List[UnansweredMail]:
    """Newest first: mail found at the reader's first start, too old to be answered by the bot
    (connectors/email/unanswered.py), that a person should look at."""
    def work(session) -> List[UnansweredMail]:
        rows = session.execute(
            select(Interaction.customer_id, Interaction.channel, Interaction.occurred_at)
            .where(Interaction.delivery_status == UNANSWERED)
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(limit))
        return [UnansweredMail(*row) for row in rows.all()]

    return await db.run(work)


async def agent_names(db: Database) -> dict:
    return await db.run(_agent_names)


async def customer_names(db: Database, customer_ids: List[str]) -> dict:
    """Display names of these customers, for those who have one."""
    def work(session) -> dict:
        rows = session.execute(select(Customer.id, Customer.display_name).where(
            Customer.id.in_(customer_ids), Customer.display_name.is_not(None)))
        return dict(rows.all())

    return await db.run(work) if customer_ids else {}


def _summary_in(row: FollowUp, language: str) -> str:
    try:
        languages = json.loads(row.summary_languages or "{}")
    except ValueError:
        languages = {}
    return (languages.get(language) if isinstance(languages, dict) else None) or row.summary_text or ""


@dataclass(frozen=True)
class FollowUpTask:
    """An alert of the follow-up worker waiting for a person (threadline/followups/alerts.py)."""

    id: int
    kind: str
    customer_id: str
    channel: Optional[str]
    priority: int
    since: datetime
    summary: str
    suggested: Optional[str]
    mine: bool  # it went to this agent (the promise they made), not to the whole queue


async def followup_tasks(db: Database, limit: int, agent_id: str, language: str) -> List[FollowUpTask]:
    """Open follow-up tasks (alerted, no outcome yet) for `agent_id`: the queue's and their own
    (another agent's are theirs), most urgent first, then oldest; summaries in `language` where
    they were written in it (else as stored, English)."""
    def work(session) -> List[FollowUpTask]:
        rows = session.scalars(select(FollowUp).where(
            FollowUp.action == "alert", FollowUp.status == "alerted", FollowUp.outcome.is_(None),
            FollowUp.agent_id.is_(None) | (FollowUp.agent_id == agent_id))
            .order_by(FollowUp.priority, FollowUp.due_at, FollowUp.id).limit(limit))
        return [FollowUpTask(r.id, r.kind, r.customer_id, r.channel, r.priority or 2, r.due_at,
                             _summary_in(r, language), r.suggested_text, r.agent_id is not None) for r in rows]

    return await db.run(work)
