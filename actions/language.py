"""The `language` slot from each message's detected language, and the CRM when it changes;
the answer to a message in a language we do not speak.

Rasa runs `action_validate_slot_mappings` after extracting slots from every message. The NLU
puts the message's language in the parse data (threadline/nlu/language.py); only a language
we speak switches the slot, and only a switch writes Customer.language. A new customer whose
message has none starts in THREADLINE_DEFAULT_LANGUAGE (threadline/language/default.py).
ActionSessionStart (actions/session.py) restores the slot from the CRM on a new session.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import services
from actions.handoff import hand_over
from threadline.crm.interface import CrmUnavailable
from threadline.language.default import default_language
from threadline.language.detect import SPOKEN

log = logging.getLogger(__name__)

LANGUAGE_SLOT = "language"
OTHER_LANGUAGE = "other_language"  # the intent threadline/nlu/language.py gives such messages


class ActionValidateSlotMappings(Action):
    def name(self) -> Text:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        detected = (tracker.latest_message or {}).get("language")
        current = tracker.get_slot(LANGUAGE_SLOT)
        if detected not in SPOKEN and current is None:
            # A new customer whose message has no language we speak: the business's default,
            # a guess, so the CRM keeps "not known" until a message says.
            return [SlotSet(LANGUAGE_SLOT, default_language())]
        if detected not in SPOKEN or detected == current:
            return []
        try:
            crm = await services()
            await crm.crm.set_customer_language(tracker.sender_id, detected)
        except CrmUnavailable as error:
            # The slot still switches; the next switch or session tries the CRM again.
            log.warning("customer language not stored: %s", error)
        return [SlotSet(LANGUAGE_SLOT, detected)]


def previous_user_intent(tracker: Tracker) -> str | None:
    """The intent of the customer's message before the latest one, if any."""
    user_messages = [e for e in tracker.events if e.get("event") == "user"]
    if len(user_messages) < 2:
        return None
    return ((user_messages[-2].get("parse_data") or {}).get("intent") or {}).get("name")


class ActionAnswerOtherLanguage(Action):
    """A message in a language we do not speak: say which ones we speak (in the customer's
    language, from the slot); a second such message in a row means the customer cannot or will
    not switch, so a person takes over. One action, because a rule may hold one user message."""

    def name(self) -> Text:
        return "action_answer_other_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if previous_user_intent(tracker) == OTHER_LANGUAGE:
            return await hand_over(dispatcher, tracker, "requested")
        dispatcher.utter_message(response="utter_languages_spoken")
        return []
