"""Product journey: stock and price from the catalogue; every product question is a lead."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import CRM_UNAVAILABLE, channel_of, services, texts_of
from threadline.crm.interface import CrmUnavailable, ProductInfo
from threadline.i18n import Texts


def describe(product: ProductInfo, texts: Texts) -> str:
    _ = texts.gettext
    price = texts.money(product.price, product.currency)
    if product.kind == "plan":
        return _("{name} costs {price} a month.").format(name=product.name, price=price)
    if product.in_stock:
        return texts.ngettext("The {name} costs {price} and we have {stock} in stock.",
                              "The {name} costs {price} and we have {stock} in stock.", product.stock
                              ).format(name=product.name, price=price, stock=texts.number(product.stock))
    back = _("; more arrive by {day}").format(day=texts.date(product.restock_date)) if product.restock_date else ""
    return _("The {name} costs {price}, but it is out of stock right now{back}.").format(
        name=product.name, price=price, back=back)


class ActionProductInfo(Action):
    def name(self) -> Text:
        return "action_product_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        name = tracker.get_slot("product")
        texts = texts_of(tracker)
        try:
            crm = await services()
            product = await crm.orders.product(name) if name else None
            if product is None:
                dispatcher.utter_message(text=texts.gettext(
                    "I couldn't find \"{name}\" in our catalogue. Could you give me the name as it appears "
                    "on the website?").format(name=name))
                return [SlotSet("product", None)]
            await crm.crm.touch_opportunity(
                tracker.sender_id, product=product.name, stage="new", channel=channel_of(tracker),
                next_step="offer to order it")
        except CrmUnavailable:
            dispatcher.utter_message(text=texts.gettext(CRM_UNAVAILABLE))
            return []
        dispatcher.utter_message(text=describe(product, texts))
        return []
