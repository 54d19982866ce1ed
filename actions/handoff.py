"""Hand the conversation to a person: record why, write the summary, tell the customer, pause.

`action_handoff` is what the rules run on a request for a person, a complaint, a sensitive
topic or strongly negative language (both re-labelled by threadline.nlu.escalation), and after
a qualified sales lead. `action_default_fallback` replaces Rasa's: when the two-stage fallback
gives up (two messages in a row not understood) it hands over too. docs/handoff.md.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import DBAPIError

from actions.crm_context import channel_of, services
from actions.history import whole_history
from threadline.crm.interface import CrmUnavailable
from threadline.handoff.notify import notify_new_handoff
from threadline.handoff.store import OpenHandoff, open_handoff_for
from threadline.handoff.summary import generate_summary

log = logging.getLogger(__name__)

REASON_OF_INTENT = {"request_human": "requested", "complaint": "complaint", "nlu_fallback": "not_understood"}
TWO_STAGE_FALLBACK = "action_two_stage_fallback"


def handoff_reason(tracker: Tracker) -> str:
    """Why this handoff: the escalation NLU found, a lead just registered, or the intent."""
    escalation = (tracker.latest_message or {}).get("escalation") or {}
    if escalation.get("reason"):
        return escalation["reason"]
    if "action_register_lead" in actions_since_last_message(tracker):
        return "sales_ready"
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    return REASON_OF_INTENT.get(intent, "requested")


def actions_since_last_message(tracker: Tracker) -> List[str]:
    names: List[str] = []
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            break
        if event.get("event") == "action":
            names.append(event.get("name"))
    return names


def paused(tracker: Tracker) -> List[Dict[Text, Any]]:
    """Pause, leaving no form half-asked: after the hand-back the bot starts afresh."""
    if (tracker.active_loop or {}).get("name") not in (None, TWO_STAGE_FALLBACK):
        return [ActiveLoop(None), SlotSet("requested_slot", None), ConversationPaused()]
    return [ConversationPaused()]


async def hand_over(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> List[Dict[Text, Any]]:
    """Open (or find) the customer's handoff, say a person is coming, and pause the bot."""
    customer_id = tracker.sender_id
    try:
        crm = await services()
        if crm.database is None:
            raise CrmUnavailable("no embedded database for handoffs")
        if await open_handoff_for(crm.database, customer_id) is not None:
            dispatcher.utter_message(response="utter_handoff_already")
            return paused(tracker)
        summary_text, summary = await _summary(customer_id, crm, tracker, reason)
        opened = await OpenHandoff(crm.database)(
            customer_id, reason=reason, channel=channel_of(tracker),
            summary_text=summary_text, summary=summary)
    except (CrmUnavailable, DBAPIError, OSError) as error:
        # Nobody would see an unrecorded handoff: stay with the customer instead of going silent.
        log.warning("handoff not recorded: %s", error.__class__.__name__)
        dispatcher.utter_message(response="utter_handoff_unavailable")
        return []
    if opened.created:
        notify_new_handoff(opened.handoff.id, summary.get("paragraph", summary_text))
        dispatcher.utter_message(response="utter_handoff")
    else:  # another trigger of this customer won the race
        dispatcher.utter_message(response="utter_handoff_already")
    return paused(tracker)


async def _summary(customer_id: str, crm, tracker: Tracker, reason: str) -> tuple[str, dict]:
    """(plain text, JSON) of the summary; a failing generator never blocks the handoff."""
    try:
        summary = await generate_summary(customer_id, crm=crm, tracker_events=await whole_history(tracker),
                                         reason=reason)
        return summary.to_text(), summary.to_dict()
    except (CrmUnavailable, DBAPIError):
        raise
    except Exception as error:  # a summary bug must not leave the customer without a person
        log.error("handoff summary failed: %s", error.__class__.__name__)  # no message text in logs
        text = f"Summary unavailable ({error.__class__.__name__}); reason: {reason}."
        return text, {"paragraph": text, "reason": reason}


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        return await hand_over(dispatcher, tracker, handoff_reason(tracker))


class ActionDefaultFallback(Action):
    """Rasa's default fallback (say so, forget the message) unless the two-stage fallback
    is giving up: then two messages in a row were not understood and a person takes over."""

    def name(self) -> Text:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        loop: Optional[str] = (tracker.active_loop or {}).get("name")
        if loop == TWO_STAGE_FALLBACK:
            return await hand_over(dispatcher, tracker, "not_understood")
        dispatcher.utter_message(response="utter_default")
        return [UserUtteranceReverted()]
