"""Support journey: refunds, payment problems and other order requests open a case and a promise."""
from __future__ import annotations

from datetime import date
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import add_business_days, channel_of, services, texts_of
from threadline.crm.interface import CrmUnavailable
from threadline.i18n import N_

# topic → (what the team does, business days to do it). The step is English in the CRM's
# promise (agents read it) and in the customer's language in the reply.
NEXT_STEPS = {
    "refund_request": (N_("confirm your refund"), 2),
    "refund_status": (N_("check where your refund is"), 1),
    "payment_problem": (N_("sort out the payment"), 1),
    "cancel_order": (N_("confirm the cancellation"), 1),
    "change_order": (N_("confirm the change"), 1),
    "change_address": (N_("confirm the new address"), 1),
    "return_exchange": (N_("send you the return label"), 1),
    "invoice": (N_("send you the invoice"), 1),
    "complaint": (N_("get back to you"), 1),
}
DEFAULT_STEP = (N_("get back to you"), 1)


class ActionOpenCase(Action):
    def name(self) -> Text:
        return "action_open_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        topic = tracker.get_slot("case_topic") or "other"
        order_id = tracker.get_slot("order_id")
        step, days = NEXT_STEPS.get(topic, DEFAULT_STEP)
        due = add_business_days(date.today(), days)
        texts = texts_of(tracker)
        said = {"order": order_id, "step": texts.gettext(step), "day": texts.date(due)}
        try:
            crm = await services()
            case, created = await crm.crm.open_case(tracker.sender_id, topic, order_id, channel_of(tracker))
            if created:
                await crm.crm.make_promise(tracker.sender_id, f"{step} (order {order_id})", due, case.id)
        except CrmUnavailable:
            dispatcher.utter_message(text=texts.gettext(
                "I've noted your request about order {order}; our team will {step} by {day}.").format(**said))
            return []
        if created:
            opened = texts.gettext("I've opened case #{case} about order {order}: our team will {step} by {day}.")
        else:
            opened = texts.gettext("You already have case #{case} about order {order}: our team will {step} by {day}.")
        dispatcher.utter_message(text=opened.format(case=case.id, **said))
        return []
