"""Order numbers as customers type them (issue #16), against a real CRM: "48213", "pedido 48213"
find the customer's own TL-48213; several of their orders → the bot asks which, offering only
theirs; another customer's order is never found, shown or hinted at by digits."""
from __future__ import annotations

from typing import List

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.orders import (
    ActionExtractOrderNumber, ActionOrderStatus, ValidateOrderCaseForm, ValidateOrderStatusForm,
)
from tests.crm.shop import give_orders
from tests.crm.trackers import DOMAIN, tracker
from threadline.crm.interface import CrmUnavailable
from threadline.crm.models import Case

NOT_FOUND = "I couldn't find order {}. Could you check the number? It starts with TL, like TL-48213."


@pytest.fixture
def shop(database, crm):
    """Ana has TL-48213 (late), TL-50927 and TL-150927; Bob has TL-70315 and TL-90927;
    TL-61884 has no customer."""
    give_orders(database, {"TL-48213": "cus_ana", "TL-50927": "cus_ana", "TL-150927": "cus_ana",
                           "TL-70315": "cus_bob", "TL-90927": "cus_bob"})
    return crm


async def order_status(order_id: str, sender_id: str = "cus_ana", language: str = None):
    dispatcher = CollectingDispatcher()
    events = await ActionOrderStatus().run(
        dispatcher, tracker({"order_id": order_id, "language": language}, sender_id=sender_id), DOMAIN)
    return events, dispatcher.messages


def texts(messages) -> List[str]:
    return [m["text"] for m in messages]


async def test_the_customers_own_order_by_its_digits_is_answered_under_its_full_id(database, shop):
    events, messages = await order_status("48213")
    [case] = database.transaction(lambda s: s.scalars(select(Case)).all())
    assert events == [SlotSet("order_id", "TL-48213")]
    assert texts(messages)[0].startswith("Your order TL-48213 (1 × Drift Running Shoes) has shipped with Correios")
    assert (case.customer_id, case.order_id) == ("cus_ana", "TL-48213")


async def test_several_of_the_customers_orders_match_the_bot_asks_which_offering_only_theirs(shop):
    events, [message] = await order_status("0927")
    assert events == [SlotSet("order_id", None)]
    assert message["text"] == "More than one of your orders matches 0927. Which one do you mean?"
    # Bob's TL-90927 ends in 0927 too: never offered, never named.
    assert message["buttons"] == [
        {"title": "TL-150927", "payload": '/order_status{"order_id": "TL-150927"}'},
        {"title": "TL-50927", "payload": '/order_status{"order_id": "TL-50927"}'},
    ]


async def test_more_matches_than_buttons_ask_for_the_whole_number(database, shop):
    give_orders(database, {f"TL-{n}0927": "cus_ana" for n in (2, 3)})
    events, [message] = await order_status("0927")
    assert events == [SlotSet("order_id", None)]
    assert message == {**message, "text": "More than one of your orders matches 0927. Please type the whole "
                                          "order number, like TL-48213.", "buttons": []}


async def test_digits_of_another_customers_order_read_exactly_like_a_number_nobody_has(shop):
    """Enumeration: whatever numbers Ana types, Bob's orders (whole or their ends) get the
    same answer as numbers no order has; only her own orders are ever found."""
    for typed in ("70315", "0315", "90927", "99999", "12345"):
        events, messages = await order_status(typed)
        assert (events, texts(messages)) == ([SlotSet("order_id", None)], [NOT_FOUND.format(typed)])
    events, messages = await order_status("70315", sender_id="cus_bob")
    assert texts(messages)[0].startswith("Your order TL-70315 (1 × Orbit Smartwatch) has shipped")


async def test_an_order_without_customer_answers_to_its_whole_number_as_to_its_full_id(shop):
    events, messages = await order_status("61884")
    assert events == [SlotSet("order_id", "TL-61884")]
    assert texts(messages)[0].startswith("Your order TL-61884 (2 × Nimbus Pillow) is being prepared")
    events, messages = await order_status("1884")  # its end alone: not the customer's, not found
    assert texts(messages) == [NOT_FOUND.format("1884")]


async def test_in_portuguese(shop):
    events, [message] = await order_status("0927", language="pt")
    assert message["text"] == "Mais de um pedido seu corresponde a 0927. Qual deles você quer dizer?"
    events, messages = await order_status("70315", language="pt")
    assert texts(messages) == ["Não encontrei o pedido 70315. Pode conferir o número? Ele começa com TL, como TL-48213."]


def form_turn(order_id: str, text: str, sender_id: str = "cus_ana", language: str = None) -> Tracker:
    """The tracker a form's validation receives: the candidate slot set after the user's message."""
    base = tracker({"order_id": order_id, "language": language, "requested_slot": "order_id"},
                   sender_id=sender_id, text=text, intent="provide_order_number",
                   events=[{"event": "user", "text": text}, {"event": "action", "name": "order_status_form"},
                           {"event": "slot", "name": "order_id", "value": order_id}])
    base.active_loop = {"name": "order_status_form"}
    return base


async def validate(action, turn: Tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, turn, DOMAIN)
    return [e for e in events if e["name"] == "order_id"], dispatcher.messages


@pytest.mark.parametrize("form", [ValidateOrderStatusForm(), ValidateOrderCaseForm()])
async def test_the_order_forms_turn_digits_into_the_customers_own_order(shop, form):
    assert await validate(form, form_turn("48213", "pedido 48213")) == ([SlotSet("order_id", "TL-48213")], [])
    # A full id goes on as typed: the journey's action looks it up (and asks for proof if it
    # is someone else's, actions/identity_claims.py).
    assert await validate(form, form_turn("TL-70315", "TL-70315")) == ([SlotSet("order_id", "TL-70315")], [])


async def test_the_form_asks_again_when_the_digits_are_none_or_several_of_the_customers(shop):
    slot, messages = await validate(ValidateOrderStatusForm(), form_turn("70315", "70315"))
    assert (slot, texts(messages)) == ([SlotSet("order_id", None)], ["I couldn't find order 70315."])
    slot, [message] = await validate(ValidateOrderStatusForm(), form_turn("0927", "0927", language="pt"))
    assert slot == [SlotSet("order_id", None)]
    assert message["text"] == "Mais de um pedido seu corresponde a 0927. Qual deles você quer dizer?"
    # Inside the form the answer is the order number itself: the form fills the slot from it.
    assert [b["payload"] for b in message["buttons"]] == ["TL-150927", "TL-50927"]


async def test_the_form_keeps_the_digits_when_the_crm_is_away(shop, monkeypatch):
    async def down(*_args, **_kwargs):
        raise CrmUnavailable("database away")

    monkeypatch.setattr(shop.orders, "matching", down)
    assert await validate(ValidateOrderStatusForm(), form_turn("48213", "48213")) == (
        [SlotSet("order_id", "48213")], [])
    events, messages = await order_status("48213")
    assert (events, texts(messages)) == ([], ["Sorry, I can't look that up right now. Please try again in a few "
                                              "minutes, or ask for a person."])


@pytest.mark.parametrize("text, events", [
    ("48213", [SlotSet("order_id", "48213")]),
    ("é 48213", [SlotSet("order_id", "48213")]),
    ("it's 482913, thanks", [SlotSet("order_id", "482913")]),  # six digits: an order here, not a code
    ("R$ 482,13", []),  # an amount
    ("01310-100", []),  # a CEP
    ("+55 11 98765-4321", []),  # a phone
    ("não sei, 2 ou 3", []),  # no order number
    ("5511987654321", []),  # too long for an order number
])
async def test_the_answer_to_the_forms_question_may_be_just_digits(text, events):
    turn = tracker(text=text, intent="provide_order_number")
    assert await ActionExtractOrderNumber().run(CollectingDispatcher(), turn, DOMAIN) == events
