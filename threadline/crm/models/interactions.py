"""The interaction timeline: every customer, bot and agent message."""
from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, Text

from threadline.crm.models.base import Base, utcnow


class Interaction(Base):
    """One message in or out. `idempotency_key` makes replaying the event stream harmless."""

    __tablename__ = "interactions"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    author = Column(String(10), nullable=False)  # customer | bot | agent
    channel = Column(String(20), nullable=True)
    text = Column(Text, nullable=True)
    intent = Column(String(100), nullable=True)
    # A bot message's response name (`utter_greet`, from Rasa's `utter_action`); None otherwise.
    response = Column(String(100), nullable=True)
    confidence = Column(Float, nullable=True)
    entities = Column(Text, nullable=False, default="[]")  # JSON list of {entity, value}
    occurred_at = Column(DateTime, nullable=False, index=True)
    # queued | sent | delivered | read | failed (outbound); received | unverified (inbound)
    delivery_status = Column(String(12), nullable=True)
    provider_message_id = Column(String(200), nullable=True, index=True)
    idempotency_key = Column(String(80), nullable=False, unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

