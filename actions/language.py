"""The `language` slot from each message's detected language, and the CRM when it changes.

Rasa runs `action_validate_slot_mappings` after extracting slots from every message. The NLU
puts the message's language in the parse data (threadline/nlu/language.py); only a language
we speak switches the slot, and only a switch writes Customer.language. ActionSessionStart
(actions/session.py) restores the slot from the CRM on a new session.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import services
from threadline.crm.interface import CrmUnavailable
from threadline.language.detect import SPOKEN

log = logging.getLogger(__name__)

LANGUAGE_SLOT = "language"


class ActionValidateSlotMappings(Action):
    def name(self) -> Text:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        detected = (tracker.latest_message or {}).get("language")
        if detected not in SPOKEN or detected == tracker.get_slot(LANGUAGE_SLOT):
            return []
        try:
            crm = await services()
            await crm.crm.set_customer_language(tracker.sender_id, detected)
        except CrmUnavailable as error:
            # The slot still switches; the next switch or session tries the CRM again.
            log.warning("customer language not stored: %s", error)
        return [SlotSet(LANGUAGE_SLOT, detected)]
