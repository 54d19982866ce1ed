"""What the CRM and the order book know about the customer, as the summary's open items.

Orders are the ones the customer mentioned, the ones their open cases are about, and their
latest order. A CRM outage never stops a handoff: the summary says the items could not be read.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import List, Optional, Sequence, Tuple

from threadline.crm.interface import (
    CaseView, Crm, CrmUnavailable, OpportunityView, OrderBook, OrderInfo, Profile, PromiseView,
)
from threadline.handoff.rendering import channel_label, day_label
from threadline.handoff.summary_model import OpenItem

MAX_ORDERS = 3


@dataclass(frozen=True)
class CrmFacts:
    profile: Optional[Profile]  # None when the CRM could not be reached
    orders: Tuple[OrderInfo, ...]
    today: date

    @property
    def first_name(self) -> Optional[str]:
        name = (self.profile.display_name or "").strip() if self.profile else ""
        return name.split()[0] if name else None

    def late_orders(self) -> List[OrderInfo]:
        return [o for o in self.orders if o.is_late(self.today)]

    def open_items(self) -> Tuple[OpenItem, ...]:
        if self.profile is None:
            return (OpenItem("unavailable", "", "CRM unavailable: open items could not be read"),)
        items = [order_item(o, self.today) for o in self.orders]
        items += [opportunity_item(o) for o in self.profile.opportunities]
        items += [case_item(c) for c in self.profile.cases]
        items += [promise_item(p, self.today) for p in self.profile.promises]
        return tuple(items)


def split_services(crm) -> Tuple[Crm, Optional[OrderBook]]:
    """`crm` is a `CrmServices` (CRM and order book) or a bare `Crm` (no order lookups)."""
    if hasattr(crm, "crm") and hasattr(crm, "orders"):
        return crm.crm, crm.orders
    return crm, None


async def read_crm_facts(crm, customer_id: str, mentioned_orders: Sequence[str], today: date) -> CrmFacts:
    store, order_book = split_services(crm)
    try:
        profile = await store.profile(customer_id)
        orders = await _orders(order_book, customer_id, mentioned_orders, profile) if order_book else ()
    except CrmUnavailable:
        return CrmFacts(None, (), today)
    return CrmFacts(profile, orders, today)


async def _orders(order_book: OrderBook, customer_id: str, mentioned: Sequence[str],
                  profile: Profile) -> Tuple[OrderInfo, ...]:
    wanted = [o.upper() for o in reversed(mentioned)]  # the latest mentioned first
    wanted += [c.order_id for c in profile.cases if c.order_id]
    found: List[OrderInfo] = []
    for order_id in dict.fromkeys(wanted):
        order = await order_book.order(order_id)
        if order is not None:
            found.append(order)
        if len(found) == MAX_ORDERS:
            return tuple(found)
    latest = await order_book.latest_order(customer_id)
    if latest is not None and all(o.id != latest.id for o in found):
        found.append(latest)
    return tuple(found)


def order_item(order: OrderInfo, today: date) -> OpenItem:
    what = f"Order {order.id}: {order.quantity} × {order.product_name}"
    carrier = f" with {order.carrier}" if order.carrier else ""
    if order.status == "delivered":
        state = f"delivered on {day_label(order.delivered_on)}" if order.delivered_on else "delivered"
    elif order.status == "cancelled":
        state = "cancelled"
    elif order.is_late(today):
        late = (today - order.estimated_delivery).days
        state = (f"{'shipped' if order.status == 'shipped' else 'being prepared'}{carrier}, "
                 f"due {day_label(order.estimated_delivery)}: {late} day{'s' if late > 1 else ''} late")
    else:
        due = f", due {day_label(order.estimated_delivery)}" if order.estimated_delivery else ""
        state = f"{'shipped' if order.status == 'shipped' else 'being prepared'}{carrier}{due}"
    return OpenItem("order", order.id, f"{what}, {state}", order.estimated_delivery)


def opportunity_item(opportunity: OpportunityView) -> OpenItem:
    about = opportunity.product or f"{opportunity.plan} plan"
    details = [f"stage {opportunity.stage}"]
    if opportunity.quantity:
        details.append(f"quantity {opportunity.quantity}")
    if opportunity.value is not None:
        details.append(f"value {opportunity.value:.2f}")
    if opportunity.next_step:
        details.append(f"next: {opportunity.next_step}")
    if opportunity.channel:
        details.append(f"from {channel_label(opportunity.channel)}")
    return OpenItem("opportunity", opportunity.id, f"Opportunity #{opportunity.id}: {about}, {', '.join(details)}")


def case_item(case: CaseView) -> OpenItem:
    order = f" about order {case.order_id}" if case.order_id else ""
    where = f" on {channel_label(case.channel)}" if case.channel else ""
    return OpenItem("case", case.id, f"Case #{case.id}: {case.topic.replace('_', ' ')}{order}, "
                                     f"{case.status} since {day_label(case.created_at)}{where}")


def promise_item(promise: PromiseView, today: date) -> OpenItem:
    overdue = " (overdue)" if promise.due_date < today else ""
    case = f" (case #{promise.case_id})" if promise.case_id else ""
    return OpenItem("promise", promise.id,
                    f"Promise: {promise.text}{case}, due {day_label(promise.due_date)}{overdue}",
                    promise.due_date)
