"""Human handoff: who takes over a conversation from the bot, why, and what happened since.

A handoff moves waiting → assigned → resolved; while it is waiting or assigned the bot is
paused for that customer (docs/handoff.md). `handoff_events` is the audit of every change.
"""
from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text, text

from threadline.crm.models.base import Base, utcnow

STATUSES = ("waiting", "assigned", "resolved")
OPEN_STATUSES = ("waiting", "assigned")
REASONS = ("requested", "complaint", "negative_sentiment", "not_understood", "sales_ready",
           "sensitive_topic")
RESOLUTIONS = ("handed_back", "closed")
# The agent's label when closing a sales conversation that did not end in a purchase.
CLOSE_LABELS = ("price", "delivery_time", "stock", "payment", "trust", "other")
EVENT_KINDS = ("opened", "assigned", "replied", "noted", "handed_back", "closed")


class Agent(Base):
    """A person who logs in to the console. Only a password hash is kept."""

    __tablename__ = "agents"

    id = Column(String(40), primary_key=True)  # agt_…
    name = Column(String(200), nullable=False, unique=True)
    password_hash = Column(String(300), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    active = Column(Boolean, nullable=False, default=True)
    # The console's language for this agent ("en", "pt"); None: the browser's choice, else English.
    language = Column(String(8), nullable=True)


class Handoff(Base):
    """One escalation of one customer. Priority 1 is the most urgent, 3 the least."""

    __tablename__ = "handoffs"

    id = Column(String(40), primary_key=True)  # hof_…
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    status = Column(String(10), nullable=False, default="waiting", index=True)
    reason = Column(String(24), nullable=False)
    priority = Column(Integer, nullable=False)
    channel = Column(String(20), nullable=True)  # the customer's channel at escalation
    summary_text = Column(Text, nullable=False, default="")
    summary_json = Column(Text, nullable=False, default="{}")
    assigned_agent_id = Column(String(40), ForeignKey("agents.id"), nullable=True, index=True)
    # indexed: the Insights refresh looks for the rows new since its watermark on every page view
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    assigned_at = Column(DateTime, nullable=True)
    resolved_at = Column(DateTime, nullable=True, index=True)
    resolution = Column(String(12), nullable=True)
    close_label = Column(String(20), nullable=True)  # one of CLOSE_LABELS, or None

    # At most one open handoff per customer, even when two triggers fire at once.
    __table_args__ = (Index("uq_handoffs_open_customer", "customer_id", unique=True,
                            sqlite_where=text("status IN ('waiting', 'assigned')"),
                            postgresql_where=text("status IN ('waiting', 'assigned')")),)


class HandoffEvent(Base):
    """One state change or agent action on a handoff: who (agent id or `bot`), what, when."""

    __tablename__ = "handoff_events"

    id = Column(Integer, primary_key=True)
    handoff_id = Column(String(40), ForeignKey("handoffs.id"), nullable=False, index=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    actor = Column(String(40), nullable=False)
    kind = Column(String(12), nullable=False)
    detail = Column(Text, nullable=False, default="")
