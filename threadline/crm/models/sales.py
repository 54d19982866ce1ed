"""Opportunities: sales leads for a product or a plan, moving new → qualified → proposal → won/lost."""
from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, Numeric, String, Text

from threadline.crm.models.base import Base, utcnow

STAGES = ("new", "qualified", "proposal", "won", "lost")
OPEN_STAGES = ("new", "qualified", "proposal")


class Opportunity(Base):
    __tablename__ = "opportunities"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    product = Column(String(200), nullable=True)
    plan = Column(String(200), nullable=True)
    quantity = Column(Integer, nullable=True)
    stage = Column(String(12), nullable=False, default="new")
    value = Column(Numeric(12, 2), nullable=True)
    next_step = Column(Text, nullable=True)
    channel = Column(String(20), nullable=True)  # where the customer last talked about it
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_touch_at = Column(DateTime, nullable=False, default=utcnow)
