"""The summary reads the whole conversation: earlier sessions from the tracker store plus the
turn in progress, each event once."""
from __future__ import annotations

from actions.history import whole_history
from threadline.conversation.event_ids import EVENT_ID, with_event_id
from threadline.conversation.tracker_store import CustomerTrackerStore
from tests.crm.trackers import tracker


def user(text: str, at: float) -> dict:
    return {"event": "user", "text": text, "timestamp": at, "parse_data": {"intent": {"name": "greet"}}}


def session_start(at: float) -> list:
    return [{"event": "action", "name": "action_session_start", "timestamp": at},
            {"event": "session_started", "timestamp": at + 0.001},
            {"event": "action", "name": "action_listen", "timestamp": at + 0.002}]


async def test_earlier_sessions_come_from_the_store_and_the_current_turn_from_the_tracker(redis_url, monkeypatch):
    monday = session_start(1000.0) + [user("is the Drift in stock? (instagram)", 1001.0)]
    today = session_start(9000.0) + [user("where is TL-48213? (whatsapp)", 9001.0)]
    store = CustomerTrackerStore(host=redis_url)
    # As the store keeps them: each message with its stable id (given at append).
    await store.rewrite_history("cus_ana", [with_event_id(e) for e in monday + today])
    await store.close()
    in_progress = [user("I want a person", 9100.0), {"event": "action", "name": "action_handoff", "timestamp": 9100.5}]
    monkeypatch.setenv("REDIS_URL", redis_url)

    history = await whole_history(tracker(events=today + in_progress))
    stored = len(monday + today)
    assert [{k: v for k, v in e.items() if k != EVENT_ID} for e in history] == monday + today + in_progress
    # The stored messages carry their stable id (other events' ids are derived: event_ids.py).
    assert all(EVENT_ID in e for e in history[:stored] if e["event"] == "user")


async def test_without_redis_the_current_session_is_used(monkeypatch):
    current = session_start(9000.0) + [user("hello", 9001.0)]
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert await whole_history(tracker(events=current)) == current
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens there
    assert await whole_history(tracker(events=current)) == current
