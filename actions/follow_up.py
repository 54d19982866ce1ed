"""Continue, don't restart (issue #15): "any update?", "and?", "nada ainda?" on any channel is
answered about what the customer left open, never with a fresh greeting.

What the customer refers to, most specific first:
1. the order they last named (slot `order_id`, carried across channels and sessions): its
   status now, and the open case about it with the promise's due date;
2. otherwise their newest open case (and its order's status);
3. otherwise their latest order still on its way;
4. otherwise the product they last asked about (stock and price now);
5. nothing open: one short question, what it is about (`utter_ask_follow_up_topic`).
Everything comes from the CRM through its interfaces (threadline/crm/interface.py), dates in
the customer's locale (threadline/i18n).
"""
from __future__ import annotations

from datetime import date
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import CRM_UNAVAILABLE, services, texts_of
from actions.orders import ORDER_SLOT, describe, find_order
from actions.session import product_news
from actions.support import DEFAULT_STEP, NEXT_STEPS
from threadline.crm.backends import CrmServices
from threadline.crm.interface import CaseView, CrmUnavailable, OrderInfo, Profile, PromiseView
from threadline.i18n import N_, Texts

# What the team does about each case topic; a late order's case (actions/orders.py) is the
# delivery team's update.
CASE_STEPS = {**{topic: step for topic, (step, _) in NEXT_STEPS.items()},
              "late_order": N_("update you on the delivery")}
IN_PROGRESS = ("processing", "shipped")

CASE_DUE = N_("Case #{case} is still open: our team will {step} by {day}.")
CASE_ABOUT_ORDER_DUE = N_("Case #{case} about order {order} is still open: our team will {step} by {day}.")
CASE_OVERDUE = N_("Case #{case} is still open. We said we would {step} by {day} and we are late: "
                  "I'm sorry. If you'd like a colleague to look at it now, just say so.")
CASE_ABOUT_ORDER_OVERDUE = N_("Case #{case} about order {order} is still open. We said we would {step} by "
                              "{day} and we are late: I'm sorry. If you'd like a colleague to look at it now, "
                              "just say so.")
CASE_OPEN = N_("Case #{case} is still open with our team.")
CASE_ABOUT_ORDER_OPEN = N_("Case #{case} about order {order} is still open with our team.")
PRODUCT_ASKED = N_("You asked about the {product}. {news}")
PLAN_ASKED = N_("You asked about {plan}. If you'd like a colleague to tell you more, just say so.")


def case_news(case: CaseView, promises: Sequence[PromiseView], texts: Texts, today: date,
              order_told: bool) -> str:
    """Where a case stands: the step promised and its day (or that the day has passed). The
    order is named unless the sentence before already told its status."""
    _ = texts.gettext
    about_order = bool(case.order_id) and not order_told
    promise = next((p for p in promises if p.case_id == case.id), None)
    said: Dict[str, str] = {"case": case.id, "order": case.order_id or ""}
    if promise is None:
        return _(CASE_ABOUT_ORDER_OPEN if about_order else CASE_OPEN).format(**said)
    said.update(step=_(CASE_STEPS.get(case.topic, DEFAULT_STEP[0])), day=texts.date(promise.due_date))
    if promise.due_date < today:
        return _(CASE_ABOUT_ORDER_OVERDUE if about_order else CASE_OVERDUE).format(**said)
    return _(CASE_ABOUT_ORDER_DUE if about_order else CASE_DUE).format(**said)


def others(cases: Sequence[CaseView], told: Optional[CaseView], texts: Texts) -> List[str]:
    """One sentence on the open cases not told about, so none is silently left out."""
    count = len([c for c in cases if told is None or c.id != told.id])
    if not count:
        return []
    return [texts.ngettext("You also have {count} other open case.", "You also have {count} other open cases.",
                           count).format(count=texts.number(count))]


async def named_order(crm: CrmServices, tracker: Tracker) -> Optional[OrderInfo]:
    """The order the customer last named, when it is theirs (or the shop has no customer for
    it): someone else's order is never described (actions/identity_claims.py proves it first)."""
    typed = tracker.get_slot(ORDER_SLOT)
    if not typed:
        return None
    order, _ = await find_order(crm.orders, str(typed), tracker.sender_id)
    if order is None or order.customer_id not in (None, tracker.sender_id):
        return None
    return order


async def what_is_open(crm: CrmServices, tracker: Tracker, profile: Profile,
                       texts: Texts, today: date) -> tuple[List[str], Optional[str]]:
    """(the sentences about the open item, the order they are about), no sentences when
    nothing is open."""
    order = await named_order(crm, tracker)
    if order is not None:
        case = next((c for c in profile.cases if c.order_id == order.id), None)
        said = [describe(order, today, texts)]
        if case is not None:
            said.append(case_news(case, profile.promises, texts, today, order_told=True))
        return said + others(profile.cases, case, texts), order.id
    if profile.cases:
        case = profile.cases[0]
        order = await crm.orders.order(case.order_id) if case.order_id else None
        if order is not None and order.customer_id not in (None, tracker.sender_id):
            order = None
        said = [describe(order, today, texts)] if order is not None else []
        said.append(case_news(case, profile.promises, texts, today, order_told=order is not None))
        return said + others(profile.cases, case, texts), case.order_id
    latest = await crm.orders.latest_order(tracker.sender_id)
    if latest is not None and latest.status in IN_PROGRESS:
        return [describe(latest, today, texts)], latest.id
    opportunity = profile.opportunities[0] if profile.opportunities else None
    if opportunity is not None and opportunity.product:
        product = await crm.orders.product(opportunity.product)
        news = product_news(product, texts) if product else ""
        return [texts.gettext(PRODUCT_ASKED).format(product=opportunity.product, news=news).strip()], None
    if opportunity is not None and opportunity.plan:
        return [texts.gettext(PLAN_ASKED).format(plan=opportunity.plan)], None
    return [], None


class ActionFollowUp(Action):
    def name(self) -> Text:
        return "action_follow_up"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        texts = texts_of(tracker)
        try:
            crm = await services()
            profile = await crm.crm.profile(tracker.sender_id)
            said, order_id = await what_is_open(crm, tracker, profile, texts, date.today())
        except CrmUnavailable:
            dispatcher.utter_message(text=texts.gettext(CRM_UNAVAILABLE))
            return []
        if not said:
            dispatcher.utter_message(response="utter_ask_follow_up_topic")
            return []
        dispatcher.utter_message(text=" ".join(said))
        # The conversation is about this order now ("cancel it" next means this one).
        return [SlotSet(ORDER_SLOT, order_id)] if order_id and order_id != tracker.get_slot(ORDER_SLOT) else []
