"""Support journey: refunds, payment problems and other order requests open a case and a promise.

What the customer is told is what happened (issue #15): "I've opened case #N" only when this
turn opened it; a case that was already open is "already open, due <the date its promise
gives>", never a fresh date or a second promise. A request without an order number (a failed
payment, a complaint) is about no order, and its sentence names none: no "order None".
"""
from __future__ import annotations

from datetime import date
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import add_business_days, channel_of, services, texts_of
from threadline.crm.interface import CaseView, Crm, CrmUnavailable
from threadline.i18n import N_, Texts

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

# Each sentence in two wordings, (about an order, about none): the customer never reads an
# empty slot. "Due" is the date of the case's open promise, as the CRM keeps it.
OPENED = (N_("I've opened case #{case} about order {order}: our team will {step} by {day}."),
          N_("I've opened case #{case}: our team will {step} by {day}."))
ALREADY_OPEN_DUE = (N_("Case #{case} about order {order} is already open, due {day}: our team will {step} by then."),
                    N_("Case #{case} is already open, due {day}: our team will {step} by then."))
ALREADY_OPEN_OVERDUE = (N_("Case #{case} about order {order} is already open; it was due {day}, and our team "
                           "is still on it."),
                        N_("Case #{case} is already open; it was due {day}, and our team is still on it."))
# An open case whose promise is no longer open (kept, or closed by an agent): no date to give.
ALREADY_OPEN = (N_("Case #{case} about order {order} is already open, and our team is on it."),
                N_("Case #{case} is already open, and our team is on it."))
# The CRM is away: nothing was recorded, so nothing is promised.
NOT_RECORDED = (N_("I couldn't open a case about order {order} just now. Please try again in a few minutes, "
                   "or ask for a person."),
                N_("I couldn't open a case just now. Please try again in a few minutes, or ask for a person."))

LATE_ORDER_OPENED = N_("{status} I've opened case #{case} with our delivery team and we'll update you by {day}.")
LATE_ORDER_ALREADY_OPEN_DUE = N_("{status} Case #{case} with our delivery team is already open, due {day}: "
                                 "we'll update you by then.")
LATE_ORDER_ALREADY_OPEN_OVERDUE = N_("{status} Case #{case} with our delivery team is already open; the update "
                                     "was due {day}, and the team is still on it.")
LATE_ORDER_ALREADY_OPEN = N_("{status} Case #{case} with our delivery team is already open, and the team is on it.")


def about(wordings: tuple[str, str], order_id: Optional[str]) -> str:
    """The wording that names the order, or the one that names none."""
    return wordings[0] if order_id else wordings[1]


async def promised_day(crm: Crm, customer_id: str, case_id: str) -> Optional[date]:
    """The due date of the case's open promise; None when it has none (or the CRM is away)."""
    try:
        profile = await crm.profile(customer_id)
    except CrmUnavailable:
        return None
    return next((p.due_date for p in profile.promises if p.case_id == case_id), None)


async def already_open(crm: Crm, customer_id: str, case: CaseView, texts: Texts,
                       wordings: tuple[str, str, str], **values: str) -> str:
    """A case this turn did not open: (due, overdue, no open promise) wording, with its day."""
    due_wording, overdue_wording, open_wording = wordings
    day = await promised_day(crm, customer_id, case.id)
    if day is None:
        return texts.gettext(open_wording).format(case=case.id, **values)
    wording = due_wording if day >= date.today() else overdue_wording
    return texts.gettext(wording).format(case=case.id, day=texts.date(day), **values)


async def late_order_case(crm: Crm, customer_id: str, case: CaseView, created: bool, update_by: date,
                          status: str, texts: Texts) -> str:
    """What a customer asking about a late order is told about its case (actions/orders.py)."""
    if created:
        return texts.gettext(LATE_ORDER_OPENED).format(status=status, case=case.id, day=texts.date(update_by))
    return await already_open(crm, customer_id, case, texts, (
        LATE_ORDER_ALREADY_OPEN_DUE, LATE_ORDER_ALREADY_OPEN_OVERDUE, LATE_ORDER_ALREADY_OPEN), status=status)


class ActionOpenCase(Action):
    def name(self) -> Text:
        return "action_open_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        topic = tracker.get_slot("case_topic") or "other"
        order_id: Optional[str] = tracker.get_slot("order_id") or None
        step, days = NEXT_STEPS.get(topic, DEFAULT_STEP)
        due = add_business_days(date.today(), days)
        texts = texts_of(tracker)
        order = {"order": order_id} if order_id else {}
        try:
            crm = await services()
            case, created = await crm.crm.open_case(tracker.sender_id, topic, order_id, channel_of(tracker))
            if created:
                promise = f"{step} (order {order_id})" if order_id else step
                await crm.crm.make_promise(tracker.sender_id, promise, due, case.id)
                said = texts.gettext(about(OPENED, order_id)).format(
                    case=case.id, step=texts.gettext(step), day=texts.date(due), **order)
            else:
                said = await already_open(
                    crm.crm, tracker.sender_id, case, texts,
                    (about(ALREADY_OPEN_DUE, order_id), about(ALREADY_OPEN_OVERDUE, order_id),
                     about(ALREADY_OPEN, order_id)), step=texts.gettext(step), **order)
        except CrmUnavailable:
            dispatcher.utter_message(text=texts.gettext(about(NOT_RECORDED, order_id)).format(**order))
            return []
        dispatcher.utter_message(text=said)
        return []
