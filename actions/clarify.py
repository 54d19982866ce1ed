"""`action_default_ask_affirmation`, replacing Rasa's: when the NLU is unsure, offer the two
most likely intents as buttons in plain words instead of "Did you mean 'order_status'?".

Rasa's two-stage fallback (rasa/core/actions/two_stage_fallback.py) runs this action when a
message falls back, and counts the clarification as done when the customer's next message has
an intent other than `nlu_fallback` and `out_of_scope`: the offered buttons' payloads are
"/intent" commands (confidence 1, the original message is reverted and replaced by the choice,
so nothing wrong is learnt). "Something else" and "No" answer `/out_of_scope`, which the
two-stage fallback answers by asking to rephrase. Button titles come from the domain's
`utter_intent_label_<intent>` responses, in the customer's language (slot `language`), and stay within 20 characters, so WhatsApp shows reply
buttons and Instagram quick replies; SMS and email number them (connectors/webhook/output.py)
and the reply "1" is read as the first payload (connectors/webhook/offers.py).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

LABEL_PREFIX = "utter_intent_label_"
SOMETHING_ELSE = "/out_of_scope"  # what Rasa's two-stage fallback takes as "not what I meant"
CANDIDATES = 2
# Intents never offered: small talk and yes/no answers, channel events without words, and the
# answers to a form's questions (offering "You're giving your order number" helps nobody, and
# the payload would carry no value).
NEVER_OFFERED = frozenset({
    "nlu_fallback", "out_of_scope", "greet", "goodbye", "affirm", "deny", "thank", "bot_challenge",
    "share_media", "unsupported_message", "csat_rating",
    "provide_contact", "provide_order_number", "provide_quantity", "provide_code",
    # Set by the language detector, not something to choose (threadline/nlu/language.py).
    "other_language",
})


def _matches(variant: Dict[Text, Any], language: Optional[Text]) -> bool:
    """A variant for this language: its slot condition on `language` names it, or it has no
    such condition and the customer is not answered in another language we translate to."""
    wanted = [c.get("value") for c in variant.get("condition") or [] if c.get("name") == "language"]
    return language in wanted if wanted else True


def response_text(domain: Dict[Text, Any], response: Text, language: Optional[Text] = None) -> Optional[Text]:
    """The text of a domain response in the customer's language (the variant whose
    `language` condition names it, else the unconditioned one). Button titles have no
    channel variants."""
    variants = [v for v in (domain.get("responses") or {}).get(response) or [] if v.get("text")]
    for choice in ([v for v in variants if v.get("condition") and _matches(v, language)],
                   [v for v in variants if not v.get("condition")]):
        if choice:
            return choice[0]["text"]
    return None


def intent_label(domain: Dict[Text, Any], intent: Text, language: Optional[Text] = None) -> Optional[Text]:
    """The plain words the domain gives an intent, or None when it gives none."""
    return response_text(domain, f"{LABEL_PREFIX}{intent}", language)


def offered_intents(ranking: List[Dict[Text, Any]], domain: Dict[Text, Any]) -> List[Text]:
    """The intents of an `intent_ranking` worth offering, best first, at most two; each has a
    label (an intent without one is never shown: its name would reach the customer)."""
    offered: List[Text] = []
    for prediction in ranking:
        name = prediction.get("name")
        if name and name not in NEVER_OFFERED and name not in offered and intent_label(domain, name):
            offered.append(name)
        if len(offered) == CANDIDATES:
            break
    return offered


class ActionAskWhichIntent(Action):
    """Two likely intents: which one? One: is it this one? None worth offering: rephrase."""

    def name(self) -> Text:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        offered = offered_intents(tracker.latest_message.get("intent_ranking") or [], domain)
        language = tracker.get_slot("language")
        if len(offered) == CANDIDATES:
            buttons = [{"title": intent_label(domain, i, language), "payload": f"/{i}"} for i in offered]
            buttons.append({"title": response_text(domain, "utter_button_something_else", language),
                            "payload": SOMETHING_ELSE})
            dispatcher.utter_message(response="utter_ask_which_intent", buttons=buttons)
        elif offered:
            [intent] = offered
            dispatcher.utter_message(
                response="utter_ask_is_it_about", intent_label=intent_label(domain, intent, language),
                buttons=[{"title": response_text(domain, "utter_button_yes", language), "payload": f"/{intent}"},
                         {"title": response_text(domain, "utter_button_no", language), "payload": SOMETHING_ELSE}])
        else:
            dispatcher.utter_message(response="utter_ask_rephrase")
        return []
