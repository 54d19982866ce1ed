"""Building small Rasa histories for merge tests."""
from __future__ import annotations

from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker


async def save_turns(store, customer_id: str, turns: list) -> list:
    """Store one user message + bot answer per (timestamp, text), as a Rasa turn does
    (retrieve, update, save); returns the whole stored history."""
    tracker = await store.retrieve(customer_id) or DialogueStateTracker.from_events(customer_id, [])
    for timestamp, text in turns:
        tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=timestamp))
        tracker.update(ActionExecuted("utter_greet", timestamp=timestamp + 0.1))
        tracker.update(BotUttered(f"re: {text}", timestamp=timestamp + 0.2))
        tracker.update(ActionExecuted("action_listen", timestamp=timestamp + 0.3))
    await store.save(tracker)
    return await store.read_history(customer_id)


def user_texts(events: list) -> list:
    return [e["text"] for e in events if e["event"] == "user"]
