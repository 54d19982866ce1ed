"""Support journey: refunds, payment problems and other order requests open a case and a promise."""
from __future__ import annotations

from datetime import date
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import add_business_days, channel_of, say_date, services
from threadline.crm.interface import CrmUnavailable

# topic → (what the team does, business days to do it)
NEXT_STEPS = {
    "refund_request": ("confirm your refund", 2),
    "refund_status": ("check where your refund is", 1),
    "payment_problem": ("sort out the payment", 1),
    "cancel_order": ("confirm the cancellation", 1),
    "change_order": ("confirm the change", 1),
    "change_address": ("confirm the new address", 1),
    "return_exchange": ("send you the return label", 1),
    "invoice": ("send you the invoice", 1),
    "complaint": ("get back to you", 1),
}
DEFAULT_STEP = ("get back to you", 1)


class ActionOpenCase(Action):
    def name(self) -> Text:
        return "action_open_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        topic = tracker.get_slot("case_topic") or "other"
        order_id = tracker.get_slot("order_id")
        step, days = NEXT_STEPS.get(topic, DEFAULT_STEP)
        due = add_business_days(date.today(), days)
        try:
            crm = await services()
            case, created = await crm.crm.open_case(tracker.sender_id, topic, order_id, channel_of(tracker))
            if created:
                await crm.crm.make_promise(tracker.sender_id, f"{step} (order {order_id})", due, case.id)
        except CrmUnavailable:
            dispatcher.utter_message(text=f"I've noted your request about order {order_id}; "
                                          f"our team will {step} by {say_date(due)}.")
            return []
        opened = "I've opened" if created else "You already have"
        dispatcher.utter_message(text=f"{opened} case #{case.id} about order {order_id}: "
                                      f"our team will {step} by {say_date(due)}.")
        return []
