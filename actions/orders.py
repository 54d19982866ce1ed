"""Order journey: real order status from the order book; a late order opens a case and a promise.

Order numbers as customers type them (issue #16). The NLU gives an order number with the
shop's letters as the shop writes it ("tl48213" → "TL-48213") and bare digits as digits
("pedido 48213", "#48213" → "48213"; threadline/nlu/structured_entities.py says when digits
are an order number at all). Right after the bot asked for the order number, a message that
is just a number is one too (`action_extract_order_number`).
- A full id is looked up as typed; when it is someone else's order, the customer proves it is
  theirs first (actions/identity_claims.py).
- Digits find the customer's own orders only (`OrderBook.matching`): exactly one → that order,
  under its full id; several → the bot asks which, offering only those; none → "couldn't find",
  whether or not another customer has an order with that number. So typing numbers, however
  many, tells a customer nothing about anyone else's orders.
Both order forms resolve the number as it is given (`validate_order_status_form`,
`validate_order_case_form`), so a case is opened about the full id; `action_order_status`
resolves it again for a number that reached it another way.
"""
from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from datetime import date
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import CRM_UNAVAILABLE, add_business_days, channel_of, services, texts_of
from actions.forms import GuardedFormValidation
from actions.identity_claims import refuse_unverified, start_claim
from actions.rich import ask_a_person, card, say_card
from actions.support import late_order_case
from threadline.crm.interface import CrmUnavailable, OrderBook, OrderInfo
from threadline.i18n import N_, Texts

LATE_ORDER_UPDATE_DAYS = 1
ORDER_SLOT = "order_id"
# An answer to "What's your order number?" that is one run of 4-10 digits and no other digits
# ("48213", "é 48213", "it's 48213 thanks"); "R$ 482,13" or a CEP "01310-100" are two runs.
ANSWER_DIGITS = re.compile(r"\d+")
ANSWER_MIN_DIGITS, ANSWER_MAX_DIGITS = 4, 10
# WhatsApp shows at most three reply buttons; more matches than that: the customer types the number.
MAX_CHOICES = 3
NOT_FOUND = N_("I couldn't find order {order}. Could you check the number? It starts with TL, like TL-48213.")
NOT_FOUND_IN_FORM = N_("I couldn't find order {order}.")  # the form then asks for the number again
SEVERAL_MATCH = N_("More than one of your orders matches {number}. Which one do you mean?")
ORDER_CARD_TITLE = N_("Order {order}")
SEVERAL_MATCH_TYPE_IT = N_("More than one of your orders matches {number}. Please type the whole order "
                           "number, like TL-48213.")


async def find_order(orders: OrderBook, typed: str, customer_id: str) -> Tuple[Optional[OrderInfo], List[OrderInfo]]:
    """(the order `typed` means, or None; the customer's orders to choose from when several
    match). A full id is looked up as it is, whoever's order it is: the caller decides what to
    show. Bare digits find only the customer's own orders (`OrderBook.matching`)."""
    typed = typed.strip()
    if not typed.isdigit():
        return await orders.order(typed), []
    matches = await orders.matching(typed, customer_id)
    return (matches[0], []) if len(matches) == 1 else (None, matches)


def ask_which(dispatcher: CollectingDispatcher, texts: Texts, number: str,
              choices: Sequence[OrderInfo], payload_intent: Optional[str]) -> None:
    """Offer the customer's own matching orders as buttons (SMS and email number them); the
    payload is the full id, or "/intent{order_id}" where the answer must restart a journey."""
    if len(choices) > MAX_CHOICES:
        dispatcher.utter_message(text=texts.gettext(SEVERAL_MATCH_TYPE_IT).format(number=number))
        return
    buttons = [{"title": order.id, "payload": order.id if payload_intent is None else
                f"/{payload_intent}{json.dumps({ORDER_SLOT: order.id})}"} for order in choices]
    dispatcher.utter_message(text=texts.gettext(SEVERAL_MATCH).format(number=number), buttons=buttons)


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


def say_status(dispatcher: CollectingDispatcher, tracker: Tracker, texts: Texts, order: OrderInfo, text: str) -> None:
    """The order's status: a card on RCS (with "Ask a person"), the text elsewhere."""
    title = texts.gettext(ORDER_CARD_TITLE).format(order=order.id)
    say_card(dispatcher, tracker, text, card(title, text, [ask_a_person(texts)]))


class ActionOrderStatus(Action):
    def name(self) -> Text:
        return "action_order_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        order_id = tracker.get_slot(ORDER_SLOT)
        texts = texts_of(tracker)
        try:
            crm = await services()
            order, choices = await find_order(crm.orders, order_id, tracker.sender_id) if order_id else (None, [])
        except CrmUnavailable:
            dispatcher.utter_message(text=texts.gettext(CRM_UNAVAILABLE))
            return []
        if choices:
            ask_which(dispatcher, texts, order_id, choices, payload_intent="order_status")
            return [SlotSet(ORDER_SLOT, None)]
        if order_id is None:  # reached without the form: ask, as the form would
            dispatcher.utter_message(response="utter_ask_order_id")
            return []
        if order is None:
            dispatcher.utter_message(text=texts.gettext(NOT_FOUND).format(order=order_id))
            return [SlotSet(ORDER_SLOT, None)]
        # Only a full id reaches someone else's order: digits find the customer's own only.
        if order.customer_id not in (None, tracker.sender_id):
            # Someone else's order (or this customer's under an old id): prove it first.
            if refuse_unverified(dispatcher, tracker, self.name()):
                return [SlotSet("order_id", None)]
            claimed = await start_claim(dispatcher, tracker.sender_id, texts, order_id=order.id)
            if claimed is not None:
                return claimed
        # The slot holds the full id from now on, for the journeys that follow ("cancel it").
        resolved = [SlotSet(ORDER_SLOT, order.id)] if order.id != order_id else []
        today = date.today()
        if not order.is_late(today):
            say_status(dispatcher, tracker, texts, order, describe(order, today, texts))
            return resolved
        update_by = add_business_days(today, LATE_ORDER_UPDATE_DAYS)
        try:
            case, created = await crm.crm.open_case(
                tracker.sender_id, "late_order", order.id, channel_of(tracker))
            if created:
                await crm.crm.make_promise(
                    tracker.sender_id, f"Update on late order {order.id}", update_by, case.id)
        except CrmUnavailable:
            say_status(dispatcher, tracker, texts, order, describe(order, today, texts))
            return resolved
        say_status(dispatcher, tracker, texts, order, await late_order_case(
            crm.crm, tracker.sender_id, case, created, update_by, describe(order, today, texts), texts))
        return resolved


class ActionExtractOrderNumber(Action):
    """The custom mapping of slot `order_id` (domain.yml) while a form asks for it: a message
    that is just a number ("48213") answers the question. Anywhere else bare digits may be a
    quantity, a CEP, an amount or a phone, and only an order word makes them an order number."""

    def name(self) -> Text:
        return "action_extract_order_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        runs = ANSWER_DIGITS.findall((tracker.latest_message or {}).get("text") or "")
        if len(runs) == 1 and ANSWER_MIN_DIGITS <= len(runs[0]) <= ANSWER_MAX_DIGITS:
            return [SlotSet(ORDER_SLOT, runs[0])]
        return []


# The intents a customer answers "What's your order number?" with, in each order form; the
# order-case intents also say what the case is about (slot case_topic).
CASE_INTENTS = frozenset({"cancel_order", "change_order", "change_address", "return_exchange",
                          "refund_request", "refund_status", "invoice"})


class OrderFormValidation(GuardedFormValidation, ABC):
    """The order number a form was given, as the full id of the order it means (see the module's
    docstring); the form asks again when it means none or several, and stops as every form does
    (actions/forms.py)."""

    @abstractmethod
    def name(self) -> Text: ...

    async def validate_order_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: Dict[Text, Any]) -> Dict[Text, Any]:
        typed = str(value or "").strip()
        if not typed.isdigit():
            return {ORDER_SLOT: value}  # a full id: action_order_status / action_open_case look it up
        texts = texts_of(tracker)
        try:
            crm = await services()
            order, choices = await find_order(crm.orders, typed, tracker.sender_id)
        except CrmUnavailable:
            return {ORDER_SLOT: typed}  # the journey's action says the CRM is away
        if order is not None:
            return {ORDER_SLOT: order.id}
        if choices:
            ask_which(dispatcher, texts, typed, choices, payload_intent=None)
        else:
            dispatcher.utter_message(text=texts.gettext(NOT_FOUND_IN_FORM).format(order=typed))
        return {ORDER_SLOT: None}


class ValidateOrderStatusForm(OrderFormValidation):
    answer_intents = frozenset({"provide_order_number", "order_status"})

    def name(self) -> Text:
        return "validate_order_status_form"


class ValidateOrderCaseForm(OrderFormValidation):
    answer_intents = frozenset({"provide_order_number"}) | CASE_INTENTS

    def name(self) -> Text:
        return "validate_order_case_form"
