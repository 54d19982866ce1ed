"""The customer's language into the CRM when the `language` slot changes.

Rasa runs `action_validate_slot_mappings` after extracting slots from each message; the slot
is set from the `language` entity (threadline/nlu/language.py) whenever a message has one,
so the CRM is written only when the value differs from the one the conversation had.
ActionSessionStart (actions/session.py) restores it from the CRM on a new session.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from actions.crm_context import services
from threadline.crm.interface import CrmUnavailable
from threadline.language.detect import SPOKEN

log = logging.getLogger(__name__)

LANGUAGE_SLOT = "language"


def language_before_this_message(tracker: Tracker) -> Optional[str]:
    """The slot's value before the slot events this message just produced."""
    events: List[Dict[str, Any]] = list(tracker.events)
    while events and events[-1].get("event") == "slot":
        events.pop()
    return next((e.get("value") for e in reversed(events)
                 if e.get("event") == "slot" and e.get("name") == LANGUAGE_SLOT), None)


class ValidateSlotMappings(ValidationAction):
    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: Dict[Text, Any]) -> List[Text]:
        # Only this slot has a check: the SDK would log "skipping validation" for the others.
        return [LANGUAGE_SLOT]

    async def validate_language(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: Dict[Text, Any]) -> Dict[Text, Any]:
        before = language_before_this_message(tracker)
        if value not in SPOKEN:  # only spoken languages are answered in (the entity sees to it)
            return {LANGUAGE_SLOT: before}
        if value != before:
            try:
                crm = await services()
                await crm.crm.set_customer_language(tracker.sender_id, value)
            except CrmUnavailable as error:
                # The slot still switches; the next change or session tries the CRM again.
                log.warning("customer language not stored: %s", error)
        return {LANGUAGE_SLOT: value}
