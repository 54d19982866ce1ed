"""Order journey: real order status from the order book; a late order opens a case and a promise."""
from __future__ import annotations

from datetime import date
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import CRM_UNAVAILABLE, add_business_days, channel_of, services, texts_of
from actions.identity_claims import refuse_unverified, start_claim
from threadline.crm.interface import CrmUnavailable, OrderInfo
from threadline.i18n import Texts

LATE_ORDER_UPDATE_DAYS = 1


def describe(order: OrderInfo, today: date, texts: Texts) -> str:
    _ = texts.gettext
    item = _("order {order} ({quantity} × {product})").format(
        order=order.id, quantity=texts.number(order.quantity), product=order.product_name)
    if order.status == "delivered" and order.delivered_on:
        return _("Your {item} was delivered on {day}.").format(item=item, day=texts.date(order.delivered_on))
    if order.status == "cancelled":
        return _("Your {item} was cancelled.").format(item=item)
    carrier = _(" with {carrier}").format(carrier=order.carrier) if order.carrier else ""
    if order.is_late(today):
        due = _("; it was due on {day}, so it is late").format(day=texts.date(order.estimated_delivery))
    elif order.estimated_delivery:
        due = _(" and should arrive by {day}").format(day=texts.date(order.estimated_delivery))
    else:
        due = ""
    if order.status == "shipped":
        return _("Your {item} has shipped{carrier}{due}.").format(item=item, carrier=carrier, due=due)
    return _("Your {item} is being prepared{due}.").format(item=item, due=due)


class ActionOrderStatus(Action):
    def name(self) -> Text:
        return "action_order_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        order_id = tracker.get_slot("order_id")
        texts = texts_of(tracker)
        try:
            crm = await services()
            order = await crm.orders.order(order_id) if order_id else None
        except CrmUnavailable:
            dispatcher.utter_message(text=texts.gettext(CRM_UNAVAILABLE))
            return []
        if order is None:
            dispatcher.utter_message(text=texts.gettext(
                "I couldn't find order {order}. Could you check the number? It starts with TL, like TL-48213."
            ).format(order=order_id))
            return [SlotSet("order_id", None)]
        if order.customer_id not in (None, tracker.sender_id):
            # Someone else's order (or this customer's under an old id): prove it first.
            if refuse_unverified(dispatcher, tracker, self.name()):
                return [SlotSet("order_id", None)]
            claimed = await start_claim(dispatcher, tracker.sender_id, texts, order_id=order.id)
            if claimed is not None:
                return claimed
        today = date.today()
        if not order.is_late(today):
            dispatcher.utter_message(text=describe(order, today, texts))
            return []
        update_by = add_business_days(today, LATE_ORDER_UPDATE_DAYS)
        try:
            case, created = await crm.crm.open_case(
                tracker.sender_id, "late_order", order.id, channel_of(tracker))
            if created:
                await crm.crm.make_promise(
                    tracker.sender_id, f"Update on late order {order.id}", update_by, case.id)
        except CrmUnavailable:
            dispatcher.utter_message(text=describe(order, today, texts))
            return []
        dispatcher.utter_message(text=texts.gettext(
            "{status} I've opened case #{case} with our delivery team and we'll update you by {day}."
        ).format(status=describe(order, today, texts), case=case.id, day=texts.date(update_by)))
        return []
