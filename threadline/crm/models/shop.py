"""The demo shop: a product catalogue and an order book (a real shop plugs in its own, docs/crm.md)."""
from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Integer, Numeric, String

from threadline.crm.models.base import Base, utcnow


class Product(Base):
    __tablename__ = "products"

    sku = Column(String(40), primary_key=True)
    name = Column(String(200), nullable=False, unique=True)
    kind = Column(String(10), nullable=False)  # product | plan
    price = Column(Numeric(12, 2), nullable=False)
    currency = Column(String(3), nullable=False, default="BRL")
    stock = Column(Integer, nullable=True)  # None for plans
    restock_date = Column(Date, nullable=True)


class Order(Base):
    __tablename__ = "orders"

    id = Column(String(40), primary_key=True)  # TL-48213
    customer_id = Column(String(40), nullable=True, index=True)  # the shop may not know them yet
    sku = Column(String(40), nullable=False)
    quantity = Column(Integer, nullable=False, default=1)
    status = Column(String(20), nullable=False)  # processing | shipped | delivered | cancelled
    # indexed: the Insights refresh looks for the rows new since its watermark on every page view
    placed_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    estimated_delivery = Column(Date, nullable=True)
    delivered_on = Column(Date, nullable=True)
    carrier = Column(String(60), nullable=True)
