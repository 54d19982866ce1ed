"""What an agent does with a handoff, one named operation each.

    ClaimHandoff      waiting → assigned to me (the first agent wins; the others get NotYourHandoff)
    ReplyToCustomer   a message to the customer on their channel, or another of theirs
    AddInternalNote   a note for colleagues; never sent to the customer
    HandBack          resolved (handed_back); the bot answers again
    CloseHandoff      resolved (closed); the bot answers again too

Every operation but claiming needs the handoff to be assigned to the acting agent: another
agent's handoff raises `NotYourHandoff` (the console answers 403). State changes are
conditional UPDATEs, so two agents (or two tabs) racing cannot both win. Each action is
recorded in `handoff_events` (actor = agent id).

Replies go through Rasa's HTTP API as a bot event with `metadata.sent_by = "agent"` and
`execute_side_effects`, so the channel's output (Instagram's HUMAN_AGENT tag, WhatsApp's
24-hour window, email threading) applies and the CRM timeline records an agent interaction.
Handing back or closing appends `ConversationResumed` (and `action_listen`): a resolved
handoff must never leave a customer talking to a silent bot. A customer merged into another
since the escalation is written to under the surviving id.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Protocol, Tuple

from sqlalchemy import select, update

from threadline.crm import Database
from threadline.crm.models import Agent, ChannelIdentity, Handoff
from threadline.crm.models.base import utcnow
from threadline.crm.models.handoffs import CLOSE_LABELS
from threadline.handoff.resume import ResumeBot
from threadline.handoff.store import HandoffView, handoff_view, record_event
from threadline.identity import directory

WEBHOOK_CHANNELS = ("whatsapp", "instagram", "sms", "rcs", "webchat")
MAX_REPLY_CHARS = 4000
MAX_NOTE_CHARS = 4000


class HandoffNotFound(LookupError):
    """No handoff with that id."""


class NotYourHandoff(PermissionError):
    """The handoff is assigned to another agent."""


class HandoffConflict(Exception):
    """The handoff is not in a state that allows this (resolved, or not claimed yet)."""


class ChannelNotReachable(ValueError):
    """The customer has no verified address on that channel, or the channel is not running."""


class RasaEvents(Protocol):
    async def append_events(self, customer_id: str, events: List[Dict[str, Any]],
                            output_channel: Optional[str] = None,
                            execute_side_effects: bool = False) -> Any: ...


def _load(session, handoff_id: str) -> Handoff:
    row = session.get(Handoff, handoff_id)
    if row is None:
        raise HandoffNotFound(f"no handoff {handoff_id}")
    return row


def _owned_open(session, handoff_id: str, agent_id: str) -> Handoff:
    """The handoff, if it is open and assigned to `agent_id`; else the reason why not."""
    row = _load(session, handoff_id)
    if row.status == "resolved":
        raise HandoffConflict(f"handoff {handoff_id} is already resolved")
    if row.status == "waiting":
        raise HandoffConflict(f"handoff {handoff_id} is waiting: take it first")
    if row.assigned_agent_id != agent_id:
        raise NotYourHandoff(f"handoff {handoff_id} is assigned to another agent")
    return row


def reply_channels(session, customer_id: str) -> List[str]:
    """Channels an agent can reply on: the customer's verified ones that are running here."""
    customer_id = directory.canonical_customer(session, customer_id)
    running = set(WEBHOOK_CHANNELS) | ({"email"} if os.environ.get("EMAIL_ADDRESS", "").strip() else set())
    rows = session.scalars(select(ChannelIdentity.channel).where(
        ChannelIdentity.customer_id == customer_id, ChannelIdentity.verified.is_(True)))
    return sorted(set(rows) & running)


class ClaimHandoff:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, handoff_id: str, agent_id: str) -> HandoffView:
        def claim(session) -> HandoffView:
            won = session.execute(
                update(Handoff).where(Handoff.id == handoff_id, Handoff.status == "waiting")
                .values(status="assigned", assigned_agent_id=agent_id, assigned_at=utcnow())
                .execution_options(synchronize_session=False)).rowcount
            row = _load(session, handoff_id)
            if won:
                record_event(session, handoff_id, agent_id, "assigned")
                return handoff_view(row)
            if row.status == "assigned" and row.assigned_agent_id == agent_id:
                return handoff_view(row)  # claimed twice (two tabs): already mine
            if row.status == "assigned":
                raise NotYourHandoff(f"handoff {handoff_id} is assigned to another agent")
            raise HandoffConflict(f"handoff {handoff_id} is already resolved")

        return await self.db.run(claim)


class ReplyToCustomer:
    def __init__(self, db: Database, rasa: RasaEvents) -> None:
        self.db = db
        self.rasa = rasa

    async def __call__(self, handoff_id: str, agent_id: str, text: str,
                       channel: Optional[str] = None) -> Tuple[str, str]:
        """Send `text` on `channel` (default: the channel of the escalation).

        Returns (customer id, channel). Rasa has handed the message to the channel when this
        returns; a channel that held it back (closed window) recorded why in `tl:out:held`."""
        text = text.strip()
        if not text or len(text) > MAX_REPLY_CHARS:
            raise ValueError(f"a reply needs 1 to {MAX_REPLY_CHARS} characters")

        def check(session) -> tuple:
            row = _owned_open(session, handoff_id, agent_id)
            reachable = reply_channels(session, row.customer_id)
            chosen = channel or (row.channel if row.channel in reachable else None)
            if chosen not in reachable:
                raise ChannelNotReachable(f"the customer cannot be reached on {chosen or 'any channel'} here")
            agent = session.get(Agent, agent_id)
            return directory.canonical_customer(session, row.customer_id), chosen, agent.name if agent else None

        customer_id, chosen, agent_name = await self.db.run(check)
        # The name goes with the message: the web chat shows who answers.
        event = {"event": "bot", "text": text,
                 "metadata": {"sent_by": "agent", "agent_id": agent_id, "agent_name": agent_name, "channel": chosen}}
        await self.rasa.append_events(customer_id, [event], output_channel=chosen, execute_side_effects=True)
        await self.db.run(lambda s: record_event(s, handoff_id, agent_id, "replied", chosen))
        return customer_id, chosen


class AddInternalNote:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, handoff_id: str, agent_id: str, text: str) -> None:
        text = text.strip()
        if not text or len(text) > MAX_NOTE_CHARS:
            raise ValueError(f"a note needs 1 to {MAX_NOTE_CHARS} characters")

        def note(session) -> None:
            _owned_open(session, handoff_id, agent_id)
            record_event(session, handoff_id, agent_id, "noted", text)

        await self.db.run(note)


class _Resolve:
    resolution = ""
    event_kind = ""

    def __init__(self, db: Database, rasa: RasaEvents) -> None:
        self.db = db
        self.rasa = rasa

    async def __call__(self, handoff_id: str, agent_id: str, close_label: Optional[str] = None) -> HandoffView:
        """`close_label`: why a sales conversation ended without a sale (CLOSE_LABELS), for the
        abandonment reasons of docs/insights.md; checked before anything changes."""
        close_label = (close_label or "").strip() or None
        if close_label is not None and close_label not in CLOSE_LABELS:
            raise ValueError(f"close label {close_label[:20]!r} is not one of {', '.join(CLOSE_LABELS)}")
        customer_id = await self.db.run(
            lambda s: directory.canonical_customer(s, _owned_open(s, handoff_id, agent_id).customer_id))
        # Resume first: appending it twice is harmless, a resolved handoff with a paused bot is not.
        await ResumeBot(self.rasa)(customer_id)

        def resolve(session) -> HandoffView:
            done = session.execute(
                update(Handoff).where(Handoff.id == handoff_id, Handoff.status == "assigned",
                                      Handoff.assigned_agent_id == agent_id)
                .values(status="resolved", resolution=self.resolution, resolved_at=utcnow(),
                        **({"close_label": close_label} if close_label else {}))
                .execution_options(synchronize_session=False)).rowcount
            if not done:
                _owned_open(session, handoff_id, agent_id)  # raises why (it changed meanwhile)
            record_event(session, handoff_id, agent_id, self.event_kind)
            return handoff_view(_load(session, handoff_id))

        return await self.db.run(resolve)


class HandBack(_Resolve):
    resolution, event_kind = "handed_back", "handed_back"


class CloseHandoff(_Resolve):
    resolution, event_kind = "closed", "closed"
