"""Product journey: stock and price from the catalogue; every product question is a lead."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import CRM_UNAVAILABLE, channel_of, say_date, say_money, services
from threadline.crm.interface import CrmUnavailable, ProductInfo


def describe(product: ProductInfo) -> str:
    price = say_money(product.price, product.currency)
    if product.kind == "plan":
        return f"{product.name} costs {price} a month."
    if product.in_stock:
        return f"The {product.name} costs {price} and we have {product.stock} in stock."
    back = f"; more arrive by {say_date(product.restock_date)}" if product.restock_date else ""
    return f"The {product.name} costs {price}, but it is out of stock right now{back}."


class ActionProductInfo(Action):
    def name(self) -> Text:
        return "action_product_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        name = tracker.get_slot("product")
        try:
            crm = await services()
            product = await crm.orders.product(name) if name else None
            if product is None:
                dispatcher.utter_message(text=f"I couldn't find \"{name}\" in our catalogue. Could you give me "
                                              "the name as it appears on the website?")
                return [SlotSet("product", None)]
            await crm.crm.touch_opportunity(
                tracker.sender_id, product=product.name, stage="new", channel=channel_of(tracker),
                next_step="offer to order it")
        except CrmUnavailable:
            dispatcher.utter_message(text=CRM_UNAVAILABLE)
            return []
        dispatcher.utter_message(text=describe(product))
        return []
