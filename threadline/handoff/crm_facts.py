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
from threadline.handoff.languages import ENGLISH_WORDS, Words
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

    def open_items(self, words: Words = ENGLISH_WORDS) -> Tuple[OpenItem, ...]:
        if self.profile is None:
            return (OpenItem("unavailable", "", words("CRM unavailable: open items could not be read")),)
        items = [order_item(o, self.today, words) for o in self.orders]
        items += [opportunity_item(o, words) for o in self.profile.opportunities]
        items += [case_item(c, words) for c in self.profile.cases]
        items += [promise_item(p, self.today, words) for p in self.profile.promises]
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


def order_item(order: OrderInfo, today: date, words: Words = ENGLISH_WORDS) -> OpenItem:
    what = words("Order %(order)s: %(quantity)s × %(product)s", order=order.id, quantity=order.quantity,
                 product=order.product_name)
    carrier = words(" with %(carrier)s", carrier=order.carrier) if order.carrier else ""
    progress = words("shipped") if order.status == "shipped" else words("being prepared")
    if order.status == "delivered":
        state = (words("delivered on %(day)s", day=words.day(order.delivered_on)) if order.delivered_on
                 else words("delivered"))
    elif order.status == "cancelled":
        state = words("cancelled")
    elif order.is_late(today):
        late = (today - order.estimated_delivery).days
        state = words.plural("%(progress)s%(carrier)s, due %(day)s: %(count)d day late",
                             "%(progress)s%(carrier)s, due %(day)s: %(count)d days late", late,
                             progress=progress, carrier=carrier, day=words.day(order.estimated_delivery))
    else:
        due = words(", due %(day)s", day=words.day(order.estimated_delivery)) if order.estimated_delivery else ""
        state = f"{progress}{carrier}{due}"
    return OpenItem("order", order.id, f"{what}, {state}", order.estimated_delivery)


def opportunity_item(opportunity: OpportunityView, words: Words = ENGLISH_WORDS) -> OpenItem:
    about = opportunity.product or words("%(plan)s plan", plan=opportunity.plan)
    details = [words("stage %(stage)s", stage=opportunity.stage)]
    if opportunity.quantity:
        details.append(words("quantity %(quantity)s", quantity=opportunity.quantity))
    if opportunity.value is not None:
        details.append(words("value %(value).2f", value=opportunity.value))
    if opportunity.next_step:
        details.append(words("next: %(step)s", step=opportunity.next_step))
    if opportunity.channel:
        details.append(words("from %(channel)s", channel=words.channel(opportunity.channel)))
    return OpenItem("opportunity", opportunity.id, words("Opportunity #%(id)s: %(about)s, %(details)s",
                                                         id=opportunity.id, about=about, details=", ".join(details)))


def case_item(case: CaseView, words: Words = ENGLISH_WORDS) -> OpenItem:
    order = words(" about order %(order)s", order=case.order_id) if case.order_id else ""
    where = words(" on %(channel)s", channel=words.channel(case.channel)) if case.channel else ""
    return OpenItem("case", case.id, words("Case #%(id)s: %(topic)s%(order)s, %(status)s since %(day)s%(where)s",
                                           id=case.id, topic=words(case.topic.replace("_", " ")), order=order,
                                           status=words(case.status), day=words.day(case.created_at), where=where))


def promise_item(promise: PromiseView, today: date, words: Words = ENGLISH_WORDS) -> OpenItem:
    overdue = words(" (overdue)") if promise.due_date < today else ""
    case = words(" (case #%(id)s)", id=promise.case_id) if promise.case_id else ""
    return OpenItem("promise", promise.id,
                    words("Promise: %(text)s%(case)s, due %(day)s%(overdue)s", text=promise.text, case=case,
                          day=words.day(promise.due_date), overdue=overdue),
                    promise.due_date)
