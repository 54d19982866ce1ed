"""Forms that know when to stop (issue #15): the validation every form's `validate_<form>` shares.

While a form waits for an answer, the customer's next message is one of three things:
- an answer (it fills a slot the form needs, or is said with one of the form's own intents, or
  is not understood): the form goes on; an answer that does not fill the slot asked for is asked
  again, at most twice in all (`MAX_ASKS`); then the form goes on without it when the slot is
  optional (`optional_slots`: `required_slots` leaves it out), or a person takes over;
- a side question (`SIDE_QUESTIONS`, "are you a bot?"): Rasa's own interruption, the form is
  rejected, a rule answers, and the form asks again;
- a closer (thanks, bye, no / never mind / forget it, a refusal) or a change of subject (any other
  intent): the form steps aside. It deactivates itself and rejects the message, so the message is
  answered by its own rules as if no form had been asking ("You're welcome!" and nothing more), and
  the form is parked: what the customer gave stays in its slots, and the form starts again, asking
  only what is missing, when the customer comes back to it (asks the same thing or gives the detail).
The form asks nothing in the turn it steps aside, so no form question ever follows a goodbye.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, FrozenSet, List, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import ActionExecutionRejected, ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.crm_context import texts_of
from actions.handoff import hand_over
from threadline.i18n import Texts

REQUESTED_SLOT = "requested_slot"
MAX_ASKS = 2
CLOSERS = frozenset({"thank", "goodbye", "deny"})
# Said in the middle of a form without leaving it: answered, then the form asks again.
SIDE_QUESTIONS = frozenset({"bot_challenge"})
# Neither an answer nor a new subject: the form asks again (and counts it).
UNCLEAR = frozenset({"affirm", "nlu_fallback"})
# The handoff reason when a form gives up on a slot it cannot go without.
GAVE_UP = "not_understood"
SLOT_EXTRACTION = "action_extract_slots"


def intent_of(tracker: Tracker) -> Optional[str]:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def arrived_while_asking(tracker: Tracker, form: str) -> bool:
    """Whether this validation is of a message that just arrived while `form` was asking, rather
    than of the form's activation or of its return after an interruption. The tracker Rasa sends
    the validation ends with the form's own ActionExecuted (and the slots it extracted)."""
    if (tracker.active_loop or {}).get("name") != form:
        return False
    skipped_own = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return True
        if event.get("event") == "action" and event.get("name") != SLOT_EXTRACTION:
            if event.get("name") == form and not skipped_own:
                skipped_own = True
                continue
            return False
    return False


def asks_since_start(tracker: Tracker, form: str, slot: str) -> int:
    """How often the form has asked for `slot` since it was last activated."""
    asked = 0
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") == form:
            break
        if event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") == f"utter_ask_{slot}":
            asked += 1
    return asked


def step_aside(form: str) -> List[Dict[Text, Any]]:
    """Deactivate and reject: the message is then answered by its own rules, with no form active."""
    return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None), ActionExecutionRejected(form)]


class GuardedFormValidation(FormValidationAction, ABC):
    """Base of every form's validation: see the module's docstring."""

    # Intents a customer may answer this form's questions with.
    answer_intents: FrozenSet[str] = frozenset()
    # Slots the form goes on without once they were asked `MAX_ASKS` times.
    optional_slots: FrozenSet[str] = frozenset()

    @abstractmethod
    def name(self) -> Text: ...

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        form, intent = self.form_name(), intent_of(tracker)
        requested = tracker.get_slot(REQUESTED_SLOT)
        answering = bool(requested) and arrived_while_asking(tracker, form)
        starting = (tracker.active_loop or {}).get("name") != form
        if answering and not self._gives_a_slot(tracker, domain):
            if (intent in CLOSERS or intent not in self.answer_intents | SIDE_QUESTIONS | UNCLEAR
                    or self.is_another_subject(tracker)):
                return step_aside(form)
            if intent in SIDE_QUESTIONS:
                return []  # Rasa rejects the form; the rule for the question answers
        events = await super().run(dispatcher, tracker, domain)
        texts = texts_of(tracker)
        if starting:
            await self.on_start(dispatcher, tracker, texts)
            return events
        if not answering or tracker.get_slot(requested) is not None:
            return events
        await self.explain_missing(requested, dispatcher, tracker, texts)
        if not any(event.get("event") == "slot" and event.get("name") == requested for event in events):
            # A slot of ours set keeps Rasa from rejecting the form: it asks the next question itself.
            events = events + [SlotSet(requested, None)]
        if asks_since_start(tracker, form, requested) < MAX_ASKS or requested in self.optional_slots:
            return events
        return events + await hand_over(dispatcher, tracker, GAVE_UP)

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        """The form's slots, without the optional ones it has already asked for `MAX_ASKS` times."""
        return [slot for slot in domain_slots
                if not (slot in self.optional_slots and tracker.get_slot(slot) is None
                        and asks_since_start(tracker, self.form_name(), slot) >= MAX_ASKS)]

    def is_another_subject(self, tracker: Tracker) -> bool:
        """Whether a message said with one of this form's own (or an unclear) intent is still about
        something else (the product form: a plan)."""
        return False

    async def on_start(self, dispatcher: CollectingDispatcher, tracker: Tracker, texts: Texts) -> None:
        """Said when the form starts, before its first question (if it has one)."""

    async def explain_missing(self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker,
                              texts: Texts) -> None:
        """Said when an answer did not give `slot`, before the form asks again or gives up."""

    def _gives_a_slot(self, tracker: Tracker, domain: DomainDict) -> bool:
        """Whether the message set one of this form's slots (its entities, a custom mapping)."""
        wanted = set(self.domain_slots(domain))
        return any(value is not None for slot, value in tracker.slots_to_validate().items() if slot in wanted)
