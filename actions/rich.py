"""Rich answers where the customer's channel shows them: a card, a carousel with "Buy" / "Ask a
person" suggestions on RCS; the same answer as plain text on every other channel.

Channel-specific output is Rasa custom JSON `{"rcs": {"card": CARD}}` or `{"rcs": {"carousel":
[CARD, …]}}` (CARD = {title, description, image?, buttons: [{title, payload}]}, rendered by
connectors/rcs/content.py): the RCS connector (Google RBM) and the SMS connector with a Twilio
Messaging Service send it as a card and its SMS text (numbered suggestions); other connectors
do not take it. So the action decides by the message it answers: by RCS (the `rcs` channel, or
Twilio's `rcs:` sender on the SMS webhook: metadata `details.transport`) → rich; else text.
The custom JSON also carries `"text"`, the answer as plain text: the CRM timeline (and so the
console and handoff summaries) reads it, connectors ignore it.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import channel_of
from threadline.i18n import N_, Texts

BUY = N_("Buy")
ASK_A_PERSON = N_("Ask a person")
HANDOFF_PAYLOAD = "/request_human"
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10

Card = Dict[str, Any]


def shows_cards(tracker: Tracker) -> bool:
    """Whether the message being answered came by RCS (RBM, or Twilio's Messaging Service)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    details = metadata.get("details") if isinstance(metadata.get("details"), dict) else {}
    return channel_of(tracker) == "rcs" or details.get("transport") == "rcs"


def ask_a_person(texts: Texts) -> Dict[str, str]:
    return {"title": texts.gettext(ASK_A_PERSON), "payload": HANDOFF_PAYLOAD}


def buy(texts: Texts, product: str) -> Dict[str, str]:
    return {"title": texts.gettext(BUY), "payload": "/purchase_intent" + json.dumps({"product": product})}


def card(title: str, description: str, buttons: List[Dict[str, str]], image: Optional[str] = None) -> Card:
    made: Card = {"title": title, "description": description, "buttons": buttons}
    if image:
        made["image"] = image
    return made


def say_card(dispatcher: CollectingDispatcher, tracker: Tracker, text: str, rich: Card) -> None:
    """`rich` on RCS, `text` (the same answer) elsewhere."""
    if shows_cards(tracker):
        dispatcher.utter_message(json_message={"rcs": {"card": rich}, "text": text})
    else:
        dispatcher.utter_message(text=text)


def say_carousel(dispatcher: CollectingDispatcher, tracker: Tracker, text: str, cards: List[Card]) -> None:
    """`text`, then on RCS the cards (RCS shows no text with a carousel, so it goes first, alone)."""
    dispatcher.utter_message(text=text)
    if shows_cards(tracker) and CAROUSEL_MIN <= len(cards) <= CAROUSEL_MAX:
        lines = "\n".join(f"- {c['title']}" for c in cards)
        dispatcher.utter_message(json_message={"rcs": {"carousel": cards}, "text": lines})
