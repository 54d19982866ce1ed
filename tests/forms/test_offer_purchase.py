"""action_offer_purchase: the offer to order follows an answer about a product, but not twice in
a row ("do you have the grinder?" → offer; "how much is it?" → the price, no second offer)."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.products import ActionOfferPurchase


def user(text: str) -> Dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": "product_price"}}}


def bot(text: str, response: str) -> Dict[str, Any]:
    return {"event": "bot", "text": text, "metadata": {"utter_action": response}}


def said(events: List[Dict[str, Any]]) -> List[str]:
    dispatcher = CollectingDispatcher()
    tracker = Tracker("cus_1", {"product": "Ember Coffee Grinder"}, events[-1], events, False, None, {}, "action_listen")
    assert asyncio.run(ActionOfferPurchase().run(dispatcher, tracker, {})) == []
    return [message.get("response") for message in dispatcher.messages]


def test_the_first_answer_about_a_product_offers_to_order_it():
    assert said([user("do you have the Ember Coffee Grinder?")]) == ["utter_offer_purchase"]


def test_a_question_right_after_the_offer_gets_no_second_offer():
    events = [user("do you have the Ember Coffee Grinder?"),
              bot("The Ember Coffee Grinder costs R$ 389,00 and we have 4 in stock.", None),
              bot("Would you like me to help you order it?", "utter_offer_purchase"),
              user("how much is it?")]
    assert said(events) == []


def test_the_offer_comes_back_once_a_turn_went_by_without_it():
    events = [user("do you have the Ember Coffee Grinder?"),
              bot("Would you like me to help you order it?", "utter_offer_purchase"),
              user("how much is it?"),
              bot("The Ember Coffee Grinder costs R$ 389,00.", None),
              user("and the Pulse Earbuds?")]
    assert said(events) == ["utter_offer_purchase"]
