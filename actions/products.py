"""Product journey: stock and price from the catalogue; every product question is a lead.

The product form stops as every form does (actions/forms.py); when the customer names something
that is not in the catalogue, the bot says the closest products or plans it has
(actions/forms_catalogue.py) before asking which one."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import CRM_UNAVAILABLE, channel_of, services, texts_of
from actions.forms import GuardedFormValidation
from actions.forms_catalogue import speaks_of_plans, suggest_closest
from actions.rich import ask_a_person, buy, card, say_card
from threadline.crm.interface import CrmUnavailable, ProductInfo
from threadline.i18n import N_, Texts

NOT_IN_CATALOGUE = N_("I couldn't find \"{name}\" in our catalogue. Could you give me the name as it appears "
                      "on the website?")


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
        if not name:  # reached without a product (a story, not the form): ask, never print "None"
            suggest_closest(dispatcher, tracker, texts)
            dispatcher.utter_message(response="utter_ask_product")
            return []
        try:
            crm = await services()
            product = await crm.orders.product(name)
            if product is None:  # in the catalogue file but not (yet) in the shop's order book
                dispatcher.utter_message(text=texts.gettext(NOT_IN_CATALOGUE).format(name=name))
                return [SlotSet("product", None)]
            await crm.crm.touch_opportunity(
                tracker.sender_id, product=product.name, stage="new", channel=channel_of(tracker),
                next_step="offer to order it")
        except CrmUnavailable:
            dispatcher.utter_message(text=texts.gettext(CRM_UNAVAILABLE))
            return []
        text = describe(product, texts)
        buttons = ([buy(texts, product.name)] if product.in_stock else []) + [ask_a_person(texts)]
        say_card(dispatcher, tracker, text, card(product.name, text, buttons))
        return []


class ValidateProductForm(GuardedFormValidation):
    answer_intents = frozenset({"product_availability", "product_price"})

    def name(self) -> Text:
        return "validate_product_form"

    def is_another_subject(self, tracker: Tracker) -> bool:
        # "how much is the pro plan?" taken for a price question or not understood: plans, not products.
        return speaks_of_plans((tracker.latest_message or {}).get("text") or "")

    async def on_start(self, dispatcher: CollectingDispatcher, tracker: Tracker, texts: Texts) -> None:
        if tracker.get_slot("product") is None:
            suggest_closest(dispatcher, tracker, texts)

    async def explain_missing(self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker,
                              texts: Texts) -> None:
        suggest_closest(dispatcher, tracker, texts)


OFFER = "action_offer_purchase"


def offered_last_turn(tracker: Tracker) -> bool:
    """Whether the bot's turn before this message offered the purchase: the customer heard it and
    asked on about the product ("how much is it?"), so the same question again would nag."""
    users_seen = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users_seen += 1
            if users_seen == 2:
                return False
        elif users_seen == 1 and event.get("event") == "bot" and \
                (event.get("metadata") or {}).get("utter_action") == "utter_offer_purchase":
            return True
    return False


class ActionOfferPurchase(Action):
    """After an answer about a product: offer to order it, unless that was the last thing asked.
    The rules for yes and no follow this action whether or not it spoke."""

    def name(self) -> Text:
        return OFFER

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if not offered_last_turn(tracker):
            dispatcher.utter_message(response="utter_offer_purchase")
        return []
