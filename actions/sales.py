"""Sales journey: the qualification and plan forms end here; the lead becomes qualified.

Both forms stop as every form does (actions/forms.py): after two tries they go on without the
quantity or the plan, and hand over to a person without a product or a way to reach the customer."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import add_business_days, channel_of, services
from actions.forms import GuardedFormValidation
from threadline.crm.interface import CrmUnavailable

CONTACT_WITHIN_DAYS = 1
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10, "a dozen": 12}


def parse_quantity(value: Optional[str]) -> Optional[int]:
    if not value:
        return None
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text)
    return WORDS.get(text)


class ActionRegisterLead(Action):
    def name(self) -> Text:
        return "action_register_lead"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        product_name, plan_name = tracker.get_slot("product"), tracker.get_slot("plan")
        email = tracker.get_slot("email") or tracker.get_slot("phone")
        quantity = parse_quantity(tracker.get_slot("quantity"))
        try:
            crm = await services()
            # The plan form runs without a product: a plan lead is about the plan (or plans in
            # general, when the customer did not choose one).
            about_plan = _last_form(tracker) == "plan_form"
            name = plan_name if about_plan else (product_name or plan_name)
            item = await crm.orders.product(name) if name else None
            value: Optional[Decimal] = None
            if item is not None and not about_plan:
                value = item.price * (quantity or 1)
            due = add_business_days(date.today(), CONTACT_WITHIN_DAYS)
            contact = email or "the customer in this conversation"
            product = None if about_plan else (item.name if item else product_name)
            plan = (item.name if item else plan_name) if about_plan else None
            if not (product or plan):  # nothing chosen yet: a promise to get in touch, no opportunity
                await crm.crm.make_promise(tracker.sender_id, f"Contact {contact} about what they would like", due)
                return []
            opportunity = await crm.crm.touch_opportunity(
                tracker.sender_id, product=product, plan=plan,
                stage="qualified", quantity=None if about_plan else quantity, value=value,
                next_step=f"contact {contact} with a quote", channel=channel_of(tracker))
            await crm.crm.make_promise(
                tracker.sender_id, f"Contact {contact} about opportunity #{opportunity.id}", due)
        except CrmUnavailable:
            pass  # utter_lead_registered still follows; the team sees the conversation
        return []


def _last_form(tracker: Tracker) -> Optional[str]:
    """The form that ran last in this session (plan_form or sales_qualification_form)."""
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name"):
            return event["name"]
    return None


class ValidateSalesQualificationForm(GuardedFormValidation):
    answer_intents = frozenset({"provide_quantity", "provide_contact", "purchase_intent"})
    optional_slots = frozenset({"quantity"})

    def name(self) -> Text:
        return "validate_sales_qualification_form"


class ValidatePlanForm(GuardedFormValidation):
    answer_intents = frozenset({"plan_interest", "provide_contact"})
    optional_slots = frozenset({"plan"})

    def name(self) -> Text:
        return "validate_plan_form"
