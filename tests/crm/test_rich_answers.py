"""Rich answers (actions/rich.py): on RCS the order status is a card and products come with
"Buy" / "Ask a person"; on every other channel the same answers are plain text. Exact events
and messages, against a real CRM database (tracker fixtures as the action server gets them)."""
from __future__ import annotations

from datetime import date, timedelta

from rasa_sdk.executor import CollectingDispatcher

from actions.orders import ActionOrderStatus
from actions.products import ActionProductInfo
from tests.crm.trackers import DOMAIN, tracker
from threadline.i18n.formatting import say_date

HANDOFF = {"title": "Ask a person", "payload": "/request_human"}


def custom(dispatcher: CollectingDispatcher):
    return [m["custom"] for m in dispatcher.messages]


def by_twilio_rcs(slots, **kwargs):
    """A message from Twilio's RCS sender: the SMS webhook, `details.transport` = rcs."""
    made = tracker(slots, channel="sms", **kwargs)
    made.latest_message["metadata"]["details"] = {"transport": "rcs"}
    return made


async def test_order_status_is_a_card_on_rcs(database, crm):
    due = say_date(date.today() + timedelta(days=2))
    text = f"Your order TL-70315 (1 × Orbit Smartwatch) has shipped with Jadlog and should arrive by {due}."
    for asked in (tracker({"order_id": "TL-70315"}, channel="rcs"), by_twilio_rcs({"order_id": "TL-70315"})):
        dispatcher = CollectingDispatcher()
        assert await ActionOrderStatus().run(dispatcher, asked, DOMAIN) == []
        assert [(m["text"], m["custom"]) for m in dispatcher.messages] == [
            (None, {"rcs": {"card": {"title": "Order TL-70315", "description": text, "buttons": [HANDOFF]}},
                    "text": text})]


async def test_order_status_is_plain_text_on_other_channels(database, crm):
    for channel in ("whatsapp", "sms", "instagram", "email", "webchat"):
        dispatcher = CollectingDispatcher()
        assert await ActionOrderStatus().run(dispatcher, tracker({"order_id": "TL-70315"}, channel=channel), DOMAIN) == []
        [message] = dispatcher.messages
        assert not message["custom"] and message["text"].startswith("Your order TL-70315 (1 × Orbit Smartwatch)")


async def test_order_card_in_portuguese(database, crm):
    dispatcher = CollectingDispatcher()
    await ActionOrderStatus().run(dispatcher, tracker({"order_id": "TL-70315", "language": "pt"}, channel="rcs"), DOMAIN)
    [answer] = custom(dispatcher)
    assert answer["rcs"]["card"]["title"] == "Pedido TL-70315"
    assert answer["rcs"]["card"]["buttons"] == [{"title": "Falar com uma pessoa", "payload": "/request_human"}]
    assert answer["rcs"]["card"]["description"].startswith("Seu pedido TL-70315")


async def test_a_product_in_stock_is_a_card_with_buy_and_ask_a_person(database, crm):
    dispatcher = CollectingDispatcher()
    events = await ActionProductInfo().run(
        dispatcher, tracker({"product": "Drift Running Shoes"}, channel="rcs", intent="product_price"), DOMAIN)
    assert events == []
    said = "The Drift Running Shoes costs BRL 499.00 and we have 18 in stock."
    assert custom(dispatcher) == [{"rcs": {"card": {
        "title": "Drift Running Shoes", "description": said,
        "buttons": [{"title": "Buy", "payload": '/purchase_intent{"product": "Drift Running Shoes"}'}, HANDOFF]}},
        "text": said}]


async def test_a_product_out_of_stock_offers_only_a_person(database, crm):
    dispatcher = CollectingDispatcher()
    await ActionProductInfo().run(dispatcher, tracker({"product": "harbor rain jacket"}, channel="rcs"), DOMAIN)
    [answer] = custom(dispatcher)
    assert answer["rcs"]["card"]["buttons"] == [HANDOFF]


async def test_closest_entries_come_as_a_carousel_after_the_sentence_on_rcs(database, crm):
    dispatcher = CollectingDispatcher()
    asked = tracker({}, channel="rcs", intent="product_price", text="how much is the pro plan?")
    assert await ActionProductInfo().run(dispatcher, asked, DOMAIN) == []
    sentence, carousel, question = dispatcher.messages
    assert sentence["text"] == "We have Club Basic, Club Plus, Club Premium, and Business Plan."
    assert [c["title"] for c in carousel["custom"]["rcs"]["carousel"]] == [
        "Club Basic", "Club Plus", "Club Premium", "Business Plan"]
    assert carousel["custom"]["rcs"]["carousel"][0] == {
        "title": "Club Basic", "description": "Monthly plan",
        "buttons": [{"title": "Buy", "payload": '/purchase_intent{"product": "Club Basic"}'}, HANDOFF]}
    assert carousel["custom"]["text"] == "- Club Basic\n- Club Plus\n- Club Premium\n- Business Plan"
    assert question["response"] == "utter_ask_product"
    # Elsewhere: the sentence and the question, no carousel.
    dispatcher = CollectingDispatcher()
    await ActionProductInfo().run(dispatcher, tracker({}, channel="whatsapp", intent="product_price",
                                                      text="how much is the pro plan?"), DOMAIN)
    assert [bool(m["custom"]) for m in dispatcher.messages] == [False, False]
