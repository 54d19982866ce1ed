"""Session start: carry slots over, load what the CRM knows, greet returning customers with it.

Slots the CRM can answer (order number, product, plan, email, phone) are filled when empty,
so forms never ask for them again. The customer's language comes from the CRM even over the
carried-over slot (`threadline customers set-language` writes it there). While a handoff is
open the bot stays paused: a new session would otherwise silently un-pause it
(docs/rasa-3.6-notes.md).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import say_channel, services, texts_of
from threadline.crm.backends import CrmServices
from threadline.crm.interface import CrmUnavailable, ProductInfo, Profile
from threadline.i18n import Texts

log = logging.getLogger(__name__)


def known_slots(profile: Profile) -> Dict[str, Any]:
    slots: Dict[str, Any] = {}
    case = next((c for c in profile.cases if c.order_id), None)
    if case:
        slots["order_id"] = case.order_id
    opportunity = profile.opportunities[0] if profile.opportunities else None
    if opportunity and opportunity.product:
        slots["product"] = opportunity.product
    if opportunity and opportunity.plan:
        slots["plan"] = opportunity.plan
    if profile.email:
        slots["email"] = profile.email
    if profile.phone:
        slots["phone"] = profile.phone
    return slots


def product_news(product: ProductInfo, texts: Texts) -> str:
    if product.in_stock:
        return texts.gettext("It's in stock, at {price}.").format(price=texts.money(product.price, product.currency))
    back = (texts.gettext("; more arrive by {day}").format(day=texts.date(product.restock_date))
            if product.restock_date else "")
    return texts.gettext("It's still out of stock{back}.").format(back=back)


async def welcome_back(profile: Profile, crm: CrmServices, texts: Texts) -> Optional[str]:
    """One sentence about the most relevant open item, or None for a new customer."""
    _ = texts.gettext
    if profile.cases:
        case = profile.cases[0]
        promise = next((p for p in profile.promises if p.case_id == case.id), None)
        due = _("; we'll update you by {day}").format(day=texts.date(promise.due_date)) if promise else ""
        if case.order_id:
            return _("Your case #{case} about order {order} is still open{due}.").format(
                case=case.id, order=case.order_id, due=due)
        return _("Your case #{case} is still open{due}.").format(case=case.id, due=due)
    if profile.opportunities:
        opportunity = profile.opportunities[0]
        where = (_(", on {channel},").format(channel=say_channel(opportunity.channel, texts))
                 if opportunity.channel else "")
        if opportunity.product:
            product = await crm.orders.product(opportunity.product)
            news = f" {product_news(product, texts)}" if product else ""
            return _("Last time{where} you asked about the {product}.{news}").format(
                where=where, product=opportunity.product, news=news)
        return _("Last time{where} you asked about {plan}.").format(where=where, plan=opportunity.plan)
    return None


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        events: List[Dict[Text, Any]] = [SessionStarted()]
        carried: Dict[str, Any] = {}
        if (domain.get("session_config") or {}).get("carry_over_slots_to_new_session", True):
            carried = {name: value for name, value in tracker.slots.items()
                       if value is not None and name != "requested_slot"}
            events += [SlotSet(name, value) for name, value in carried.items()]
        try:
            crm = await services()
            profile = await crm.crm.profile(tracker.sender_id)
            events += [SlotSet(name, value) for name, value in known_slots(profile).items()
                       if name not in carried and name in (domain.get("slots") or {})]
            if profile.language and profile.language != carried.get("language"):
                # The CRM wins over the carried slot: an agent may have set it in between.
                events.append(SlotSet("language", profile.language))
            if await crm.crm.has_open_handoff(tracker.sender_id):
                # A person has this conversation: no greeting from the bot either.
                events.append(ConversationPaused())
            else:
                texts = texts_of(tracker)
                line = await welcome_back(profile, crm, texts)
                if line:
                    dispatcher.utter_message(text=texts.gettext("Welcome back! {news}").format(news=line))
        except CrmUnavailable as error:
            # Without the CRM the conversation goes on, just without the customer's context.
            log.warning("session start without CRM context: %s", error)
        events.append(ActionExecuted("action_listen"))
        return events
