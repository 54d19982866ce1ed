"""Follow-ups (issue #18): every one planned, sent, skipped (and why), and what came of it;
and the customers who asked not to be written to.

`key` names one due item and one action (`stalled_lead:opportunity:12:2026-12-01T10:00:00.000000:message`):
it is unique, so two follow-up workers racing on the same item record it, and send it, once.
Both tables have a `customer_id`, so a merge moves their rows to the surviving customer.
"""
from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text

from threadline.crm.models.base import Base, utcnow

ACTIONS = ("alert", "message")
# planned: claimed by a worker, being sent; sent / alerted: done; skipped: a guard said no
# (`reason`); refused: the provider or Rasa said no (`reason`), never retried.
STATUSES = ("planned", "sent", "alerted", "skipped", "refused")
OUTCOMES = ("replied", "advanced", "won", "opted_out")


class FollowUp(Base):
    __tablename__ = "followups"

    id = Column(Integer, primary_key=True)
    key = Column(String(160), nullable=False, unique=True)
    kind = Column(String(24), nullable=False, index=True)
    action = Column(String(8), nullable=False)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    subject = Column(String(60), nullable=False)  # what it is about: opportunity:12, promise:3, ...
    status = Column(String(10), nullable=False, default="planned", index=True)
    reason = Column(String(60), nullable=True)  # why skipped or refused: a code, never customer text
    channel = Column(String(20), nullable=True)
    response = Column(String(100), nullable=True)
    context = Column(Text, nullable=False, default="{}")  # JSON: product, promise, due_date...
    due_at = Column(DateTime, nullable=False)
    planned_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    done_at = Column(DateTime, nullable=True)
    outcome = Column(String(12), nullable=True)
    outcome_at = Column(DateTime, nullable=True)
    # An alert's task in the console queue: its priority (1 most urgent) and what the agent reads.
    priority = Column(Integer, nullable=True)
    summary_text = Column(Text, nullable=True)
    summary_languages = Column(Text, nullable=True)  # JSON: the summary in the other languages, {"pt": ...}
    suggested_text = Column(Text, nullable=True)
    # The agent the task goes to (the one who made the overdue promise); None: the whole queue.
    agent_id = Column(String(40), ForeignKey("agents.id"), nullable=True)


class CustomerOptOut(Base):
    """The customer asked not to be written to on `channel` ("*": any channel).

    Not unique per (customer, channel) on purpose: a merge moves both customers' rows to the
    survivor, and either row is enough to stay silent. START / a new consent deletes them."""

    __tablename__ = "customer_opt_outs"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    channel = Column(String(20), nullable=False)
    source = Column(String(20), nullable=False)  # sms_stop | request | operator
    at = Column(DateTime, nullable=False, default=utcnow)
