"""Who bought what in the demo shop, for tests (the seeded orders have no customer)."""
from __future__ import annotations

from datetime import timedelta
from typing import Dict, Optional

from threadline.crm import Database
from threadline.crm.models import Order


def give_orders(database: Database, owners: Dict[str, Optional[str]]) -> None:
    """Set each seeded order's customer; an order id not seeded yet is added as a copy of
    TL-48213 (the late Drift Running Shoes) placed a day later, so it is the newer one."""
    def work(session) -> None:
        model = session.get(Order, "TL-48213")
        for order_id, customer_id in owners.items():
            order = session.get(Order, order_id)
            if order is None:
                order = Order(id=order_id, sku=model.sku, quantity=1, status=model.status,
                              placed_at=model.placed_at + timedelta(days=1),
                              estimated_delivery=model.estimated_delivery, carrier=model.carrier)
                session.add(order)
            order.customer_id = customer_id
    database.transaction(work)


