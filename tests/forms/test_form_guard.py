"""The forms' shared validation (actions/forms.py) and the catalogue's reading of products and plans
(actions/forms_catalogue.py), on trackers as Rasa sends them to the action server: the events of the
session, then the form's own ActionExecuted and the slots it extracted."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.forms_catalogue import ActionExtractCatalogueItems, closest, refers_back
from actions.sales import ValidateSalesQualificationForm

DOMAIN: Dict[str, Any] = {
    "forms": {"sales_qualification_form": {"required_slots": ["product", "quantity", "email"]}},
    "slots": {name: {"type": "text", "mappings": [{"type": "from_entity", "entity": name}]}
              for name in ("product", "quantity", "email", "plan", "language")},
}


def user(text: str, intent: str, entities: Optional[List[dict]] = None) -> Dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 1.0},
                                                         "entities": entities or [], "text": text}}


def asked(slot: str) -> List[Dict[str, Any]]:
    return [{"event": "slot", "name": "requested_slot", "value": slot},
            {"event": "bot", "text": f"(asks {slot})", "metadata": {"utter_action": f"utter_ask_{slot}"}},
            {"event": "action", "name": "action_listen"}]


def tracker(events: List[Dict[str, Any]], slots: Dict[str, Any], form: Optional[str]) -> Tracker:
    latest = next(e for e in reversed(events) if e["event"] == "user")
    return Tracker.from_dict({
        "sender_id": "cus_unit", "slots": slots, "events": events, "paused": False, "followup_action": None,
        "latest_message": {**latest["parse_data"], "text": latest["text"]},
        "active_loop": {"name": form} if form else {}, "latest_action_name": events[-1].get("name"),
    })


def form_turn(history: List[Dict[str, Any]], message: Dict[str, Any], requested: str) -> List[Dict[str, Any]]:
    """What Rasa sends `validate_<form>` for a message that arrived while the form was asking."""
    return history + [message, {"event": "slot", "name": "requested_slot", "value": requested},
                      {"event": "action", "name": "sales_qualification_form"}]


START = [{"event": "active_loop", "name": "sales_qualification_form"}]
SLOTS = {"product": "Atlas Office Chair", "quantity": None, "email": None, "requested_slot": "quantity"}


async def validate(events, slots) -> tuple:
    dispatcher = CollectingDispatcher()
    result = await ValidateSalesQualificationForm().run(
        dispatcher, tracker(events, slots, "sales_qualification_form"), DOMAIN)
    return result, dispatcher.messages


async def test_a_thanks_while_the_form_asks_makes_it_step_aside():
    events, said = await validate(form_turn(START + asked("quantity"), user("thanks!", "thank"), "quantity"), SLOTS)
    assert said == []
    assert {"event": "active_loop", "name": None} in [{k: e.get(k) for k in ("event", "name")} for e in events]
    assert [e["event"] for e in events][-1] == "action_execution_rejected"


async def test_an_unclear_answer_is_asked_again_once_then_the_optional_quantity_is_left_out():
    unclear = user("hmm", "nlu_fallback")
    once, _ = await validate(form_turn(START + asked("quantity"), unclear, "quantity"), SLOTS)
    assert {"event": "slot", "name": "quantity", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in once]
    assert not any(e.get("name") == "requested_slot" and e.get("value") == "email" for e in once)  # asks again

    twice, _ = await validate(form_turn(START + asked("quantity") + asked("quantity"), unclear, "quantity"), SLOTS)
    next_question = [e["value"] for e in twice if e["event"] == "slot" and e["name"] == "requested_slot"]
    assert next_question == ["email"], twice  # goes on without the quantity


async def test_a_side_question_leaves_the_form_to_rasa_and_the_rule():
    events, said = await validate(form_turn(START + asked("quantity"), user("are you a bot?", "bot_challenge"),
                                            "quantity"), SLOTS)
    assert events == [] and said == []  # nothing validated: Rasa rejects the form, the rule answers


def catalogue_turn(text: str, intent: str, entities: List[dict], slots: Dict[str, Any]) -> Tracker:
    return tracker([user(text, intent, entities)], slots, None)


async def run_extraction(text: str, intent: str, entities: List[dict], slots: Dict[str, Any]) -> Dict[str, Any]:
    events = await ActionExtractCatalogueItems().run(
        CollectingDispatcher(), catalogue_turn(text, intent, entities, slots), DOMAIN)
    return {e["name"]: e["value"] for e in events}


async def test_a_city_tagged_as_a_product_fills_nothing():
    found = await run_extraction("do you deliver to Sao Paulo?", "delivery_time",
                                 [{"entity": "product", "value": "Sao Paulo"}], {"product": None})
    assert found == {}


async def test_catalogue_names_fill_their_own_slot_whatever_the_entity_said():
    found = await run_extraction("is the club plus worth it", "plan_interest",
                                 [{"entity": "product", "value": "club plus"}], {"product": None, "plan": None})
    assert found == {"plan": "Club Plus"}


@pytest.mark.parametrize("text, kept", [
    ("how much is it?", True), ("quanto custa?", True), ("is that one still in stock?", True),
    ("e esse, tem?", True), ("do you have the blue sneakers in size 42?", False), ("tem o tenis azul 42?", False),
])
async def test_a_new_product_question_forgets_the_old_product_unless_it_refers_back(text, kept):
    found = await run_extraction(text, "product_price", [], {"product": "Atlas Office Chair"})
    assert found == ({} if kept else {"product": None})
    assert refers_back(text) is kept


@pytest.mark.parametrize("text, names", [
    ("how much is the pro plan?", ["Club Basic", "Club Plus", "Club Premium", "Business Plan"]),
    ("quanto é o plano pro?", ["Club Basic", "Club Plus", "Club Premium", "Business Plan"]),
    ("do you have the blue sneakers in size 42?", ["Drift Running Shoes"]),
    ("tem o tenis azul 42?", ["Drift Running Shoes"]),
    ("a nimbus pilow please", ["Nimbus Pillow"]),
    ("how long does delivery take to Sao Paulo?", []),
])
def test_unknown_names_get_the_closest_real_ones(text, names):
    assert [entry.name for entry in closest(text)] == names


async def test_the_price_of_a_plan_is_a_product_question_about_the_plan():
    found = await run_extraction("how much is the club premium?", "product_price",
                                 [{"entity": "plan", "value": "Club Premium"}], {"product": "Atlas Office Chair"})
    assert found == {"plan": "Club Premium", "product": "Club Premium"}


async def test_plan_talk_while_the_product_form_asks_makes_it_step_aside():
    from actions.products import ValidateProductForm

    events = [{"event": "active_loop", "name": "product_form"}] + asked("product") + [
        user("quanto custa o plano pro?", "nlu_fallback"),
        {"event": "slot", "name": "requested_slot", "value": "product"}, {"event": "action", "name": "product_form"}]
    domain = {**DOMAIN, "forms": {"product_form": {"required_slots": ["product"]}}}
    result = await ValidateProductForm().run(
        CollectingDispatcher(), tracker(events, {"product": None, "requested_slot": "product"}, "product_form"), domain)
    assert [e["event"] for e in result] == ["active_loop", "slot", "action_execution_rejected"]
