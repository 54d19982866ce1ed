"""Customers who asked not to be written to (issue #18): SMS STOP / START, and, on any channel,
"stop messaging me". Proactive messages (follow-ups) read it; the channels keep their own record
of the address for every send (connectors/webhook/records.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from threadline.crm.models.followups import CustomerOptOut

ANY_CHANNEL = "*"


def record_opt_out(session: Session, customer_id: str, channel: str, source: str, now: datetime) -> bool:
    """The customer asked not to be written to on `channel` ("*" for all); False if already so."""
    if session.scalar(select(CustomerOptOut.id).where(CustomerOptOut.customer_id == customer_id,
                                                      CustomerOptOut.channel == channel).limit(1)) is not None:
        return False
    session.add(CustomerOptOut(customer_id=customer_id, channel=channel, source=source, at=now))
    return True


def clear_opt_out(session: Session, customer_id: str, channel: str) -> int:
    """START (or a new consent) on `channel`; "*" clears them all."""
    query = delete(CustomerOptOut).where(CustomerOptOut.customer_id == customer_id)
    if channel != ANY_CHANNEL:
        query = query.where(CustomerOptOut.channel == channel)
    return session.execute(query.execution_options(synchronize_session=False)).rowcount


def clear_any_channel_opt_out(session: Session, customer_id: str) -> int:
    """"You can message me again": lifts the "*" opt-out only. A channel's own STOP stays until
    that channel's START (a carrier keeps its own record of it)."""
    return session.execute(delete(CustomerOptOut).where(
        CustomerOptOut.customer_id == customer_id, CustomerOptOut.channel == ANY_CHANNEL,
    ).execution_options(synchronize_session=False)).rowcount


def opted_out(session: Session, customer_id: str, channel: str | None) -> bool:
    channels = [ANY_CHANNEL] + ([channel] if channel else [])
    return session.scalar(select(CustomerOptOut.id).where(
        CustomerOptOut.customer_id == customer_id, CustomerOptOut.channel.in_(channels)).limit(1)) is not None
