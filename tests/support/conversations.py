"""Conversations for tracker store tests, built with Rasa's own events and session action."""
from __future__ import annotations

from typing import List

from rasa.core.actions.action import ActionSessionStart
from rasa.core.channels import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet]
slots:
  customer_name:
    type: text
    mappings: [{type: custom}]
  order_id:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: hi}]
session_config:
  session_expiration_time: 60
  carry_over_slots_to_new_session: true
""")


def turn(text: str) -> List[Event]:
    return [
        UserUttered(text, {"name": "greet", "confidence": 1.0}),
        ActionExecuted("utter_greet"),
        BotUttered("hi"),
        ActionExecuted("action_listen"),
    ]


async def start_session(tracker: DialogueStateTracker, domain: Domain = DOMAIN) -> None:
    """What MessageProcessor._update_tracker_session does, with Rasa's own action."""
    tracker.update(ActionExecuted("action_session_start"))
    events = await ActionSessionStart().run(
        CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses), tracker, domain
    )
    tracker.update_with_events(events, domain)


def comparable(tracker: DialogueStateTracker) -> dict:
    """Everything but timestamps (each store's copy of an event is stamped when applied)."""
    return {
        "events": [{k: v for k, v in e.as_dict().items() if k != "timestamp"} for e in tracker.events],
        "slots": tracker.current_slot_values(),
        "paused": tracker.is_paused(),
    }
