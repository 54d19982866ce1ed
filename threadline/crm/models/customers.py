"""Customers and the aliases merged customer ids keep pointing to."""
from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String

from threadline.crm.models.base import Base, utcnow


class Customer(Base):
    """A person. `id` is the Rasa sender_id (`cus_…`) and never changes or gets reused."""

    __tablename__ = "customers"

    id = Column(String(40), primary_key=True)
    display_name = Column(String(200), nullable=True)
    external_id = Column(String(200), nullable=True, unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    # Set while this customer is merged into another one (its id is then an alias).
    merged_into = Column(String(40), ForeignKey("customers.id"), nullable=True)
    # The language the customer is answered in ("en", "pt"); None until one was detected.
    language = Column(String(8), nullable=True)


class CustomerAlias(Base):
    """`alias_id` was merged into `customer_id`: late messages and API calls still resolve."""

    __tablename__ = "customer_aliases"

    alias_id = Column(String(40), ForeignKey("customers.id"), primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    audit_id = Column(Integer, ForeignKey("audit_log.id"), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
