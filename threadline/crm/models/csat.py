"""CSAT: the 1-5 question sent to a customer after a handoff is closed, and their answer.

One row per question asked (threadline/insights/csat.py): `trigger` + `source_id` say what
ended (a handoff today), unique so the same ending is never asked about twice; `score` and
`answered_at` stay empty until the customer answers (first answer wins).
"""
from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, UniqueConstraint

from threadline.crm.models.base import Base, utcnow

TRIGGERS = ("handoff", "case")


class CsatRequest(Base):
    __tablename__ = "csat_requests"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    channel = Column(String(20), nullable=False)  # where the question was sent
    trigger = Column(String(12), nullable=False)  # one of TRIGGERS
    source_id = Column(String(40), nullable=False)  # the handoff (or case) id
    asked_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    score = Column(Integer, nullable=True)  # 1-5
    answered_at = Column(DateTime, nullable=True)

    __table_args__ = (UniqueConstraint("trigger", "source_id", name="uq_csat_requests_trigger_source"),)
