"""Opportunities: sales leads for a product or a plan, moving new → qualified → proposal → won/lost,
and when each one entered each stage (the insights metrics read it)."""
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
    # indexed: the Insights refresh looks for the rows new since its watermark on every page view
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    last_touch_at = Column(DateTime, nullable=False, default=utcnow)


class OpportunityStageChange(Base):
    """`opportunity_id` entered `stage` at `at` (its creation is the first one). No customer_id on
    purpose: it follows its opportunity through a merge."""

    __tablename__ = "opportunity_stage_changes"

    id = Column(Integer, primary_key=True)
    opportunity_id = Column(Integer, ForeignKey("opportunities.id"), nullable=False, index=True)
    stage = Column(String(12), nullable=False)
    at = Column(DateTime, nullable=False, default=utcnow)
