"""Cases (support issues, open → resolved) and promises (what the business committed to)."""
from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, ForeignKey, Integer, String, Text

from threadline.crm.models.base import Base, utcnow


class Case(Base):
    __tablename__ = "cases"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    topic = Column(String(40), nullable=False)  # late_order, refund_request, payment_problem...
    order_id = Column(String(40), nullable=True, index=True)
    status = Column(String(12), nullable=False, default="open")  # open | resolved
    channel = Column(String(20), nullable=True)
    # indexed: the Insights refresh looks for the rows new since its watermark on every page view
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    resolved_at = Column(DateTime, nullable=True, index=True)


class Promise(Base):
    __tablename__ = "promises"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=True, index=True)
    text = Column(Text, nullable=False)
    due_date = Column(Date, nullable=False)
    status = Column(String(8), nullable=False, default="open")  # open | kept | broken
    created_at = Column(DateTime, nullable=False, default=utcnow)
    # The agent who made it (None: the bot): an overdue promise's follow-up task goes to them.
    agent_id = Column(String(40), ForeignKey("agents.id"), nullable=True)
