"""Whether we may write to the customer first: "stop messaging me" and "you can message me again",
typed on any channel (intents stop_contact / allow_contact, issue #18).

The CRM records it for every channel (customer_opt_outs, channel "*"); the follow-up worker's
guards read it and skip the customer (threadline/followups/guards.py). Only proactive messages
stop: the customer's own messages are still answered, which the confirmation says. When the CRM
cannot record it the customer is told so, never told it was done.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import services
from threadline.crm.interface import Crm, CrmUnavailable

log = logging.getLogger(__name__)

NOT_SAVED = "utter_contact_preference_not_saved"


class ActionStopContact(Action):
    def name(self) -> Text:
        return "action_stop_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        return await _record(dispatcher, tracker, allowed=False, confirmation="utter_contact_stopped")


class ActionAllowContact(Action):
    def name(self) -> Text:
        return "action_allow_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        return await _record(dispatcher, tracker, allowed=True, confirmation="utter_contact_allowed")


async def _record(dispatcher: CollectingDispatcher, tracker: Tracker, *, allowed: bool,
                  confirmation: str) -> List[Dict[Text, Any]]:
    try:
        crm: Crm = (await services()).crm
        if allowed:
            changed = await crm.allow_proactive_messages(tracker.sender_id)
        else:
            changed = await crm.stop_proactive_messages(tracker.sender_id)
    except CrmUnavailable as error:
        log.warning("contact preference of customer %s not recorded: %s", tracker.sender_id, error)
        dispatcher.utter_message(response=NOT_SAVED)
        return []
    log.info("contact preference: customer %s %s (%s)", tracker.sender_id,
             "may be messaged first" if allowed else "opted out of proactive messages",
             "recorded" if changed else "already so")
    dispatcher.utter_message(response=confirmation)
    return []
