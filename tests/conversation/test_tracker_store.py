"""CustomerTrackerStore against a real redis-server, compared with Rasa's own stores.

Session semantics must be Rasa's: every scenario is replayed on Rasa's RedisTrackerStore (in
the same test Redis, its own keys) and the retrieved trackers (events, slots, paused state)
must be the same.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import List
from urllib.parse import urlparse

import pytest
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.events import (
    ActionExecuted, ActionExecutionRejected, ActionReverted, ActiveLoop, AgentUttered, AllSlotsReset,
    BotUttered, ConversationPaused, ConversationResumed, FollowupAction, LoopInterrupted,
    ReminderCancelled, ReminderScheduled, Restarted, SessionStarted, SlotSet, StoryExported,
    UserUttered, UserUtteranceReverted,
)
from rasa.shared.core.trackers import DialogueStateTracker

from threadline.conversation import event_log
from threadline.conversation.event_ids import EVENT_ID, event_id
from threadline.conversation.redis_connection import StorageUnavailable, connect_sync
from threadline.conversation.slim_events import inflated_event, slim_event
from threadline.conversation.tracker_store import CustomerTrackerStore
from tests.support.conversations import DOMAIN, comparable, start_session, turn
from tests.support.redis_server import free_port

@pytest.fixture
def rasa_store(redis_url):
    parts = urlparse(redis_url)
    return RedisTrackerStore(DOMAIN, host=parts.hostname, port=parts.port, db=0, key_prefix="rasa")


async def play(stores, sender: str, steps) -> None:
    """Apply the same steps to each store: retrieve, update, save (like a turn)."""
    for step in steps:
        for tracker_store in stores:
            tracker = await tracker_store.get_or_create_tracker(sender, append_action_listen=False)
            if step == "session":
                await start_session(tracker)
            else:
                tracker.update_with_events(step, DOMAIN)
            await tracker_store.save(tracker)


async def test_retrieve_returns_last_session_with_carried_slots_like_rasa(store, rasa_store):
    await play([store, rasa_store], "cus_a", [
        "session", turn("hi"), [SlotSet("customer_name", "Ana")], turn("order?"),
        "session", turn("back again"), [SlotSet("order_id", "A-1")],
    ])
    ours, theirs = await store.retrieve("cus_a"), await rasa_store.retrieve("cus_a")
    assert comparable(ours) == comparable(theirs)
    assert ours.events[0] == ActionExecuted("action_session_start")
    assert ours.get_slot("customer_name") == "Ana"  # carried over by the session start
    assert not any(isinstance(e, UserUttered) and e.text == "order?" for e in ours.events)

    full = await store.retrieve_full_tracker("cus_a")
    assert comparable(full) == comparable(await rasa_store.retrieve_full_tracker("cus_a"))


async def test_pause_state_across_sessions_matches_rasa(store, rasa_store):
    handoff = [ConversationPaused()]
    # Paused in session 1 -> still paused on retrieve within that session.
    await play([store, rasa_store], "cus_p", ["session", turn("agent please"), handoff])
    paused = await store.retrieve("cus_p")
    assert paused.is_paused()
    assert comparable(paused) == comparable(await rasa_store.retrieve("cus_p"))

    # A new session un-pauses in Rasa (SessionStarted resets the tracker); ours must too...
    await play([store, rasa_store], "cus_p", ["session"])
    unpaused = await store.retrieve("cus_p")
    assert not unpaused.is_paused()
    assert comparable(unpaused) == comparable(await rasa_store.retrieve("cus_p"))

    # ...and a session start that re-pauses (open handoff) is kept paused across retrieve.
    await play([store, rasa_store], "cus_p", [handoff, turn("hello?")])
    repaused = await store.retrieve("cus_p")
    assert repaused.is_paused()
    assert comparable(repaused) == comparable(await rasa_store.retrieve("cus_p"))

    await play([store, rasa_store], "cus_p", [[ConversationResumed()]])
    assert not (await store.retrieve("cus_p")).is_paused()


async def test_save_appends_only_new_events_and_is_idempotent(store, redis_url):
    await play([store], "cus_i", ["session", turn("one")])
    raw = connect_sync(redis_url)
    before = raw.lrange("tl:trk:{cus_i}:ev", 0, -1)

    tracker = await store.retrieve("cus_i")
    tracker.update_with_events(turn("two"), DOMAIN)
    await store.save(tracker)
    await store.save(tracker)  # Rasa may save the same tracker again: nothing is added
    after = raw.lrange("tl:trk:{cus_i}:ev", 0, -1)

    assert after[: len(before)] == before  # history is never rewritten
    assert len(after) == len(before) + 4
    texts = [e.text for e in (await store.retrieve("cus_i")).events if isinstance(e, UserUttered)]
    assert texts == ["one", "two"]


async def test_tracker_built_elsewhere_saves_only_events_missing_from_the_session(store):
    await play([store], "cus_e", ["session", turn("one"), "session", turn("two")])
    stored = await store.retrieve("cus_e")
    # e.g. Rasa's HTTP API rebuilding a tracker from the current session's events
    rebuilt = DialogueStateTracker.from_events("cus_e", [*stored.events, *turn("three")], DOMAIN.slots)
    await store.save(rebuilt)

    history = await store.read_history("cus_e")
    texts = [e["text"] for e in history if e["event"] == "user"]
    assert texts == ["one", "two", "three"]


async def test_paged_history_rewrite_and_delete(store):
    await play([store], "cus_h", ["session", turn("a"), "session", turn("b"), turn("c")])
    everything = await store.read_history("cus_h")
    assert len(everything) == 2 * 3 + 3 * 4  # 3 events per session start, 4 per turn
    pages = [await store.read_history("cus_h", start, 5) for start in range(0, len(everything), 5)]
    assert [e for page in pages for e in page] == everything

    # Merge: keep only the second session; the session index follows the new events.
    second = everything[7:]
    await store.rewrite_history("cus_h", second)
    assert (await store.layout("cus_h")).session_starts == [0]
    assert [e["text"] for e in await store.read_history("cus_h") if e["event"] == "user"] == ["b", "c"]

    await store.delete_history("cus_h")
    assert await store.retrieve("cus_h") is None
    assert "cus_h" not in await store.keys()


async def test_new_events_are_published_without_rereading_the_tracker(store):
    class RecordingBroker:
        def __init__(self) -> None:
            self.published: List[dict] = []

        def publish(self, event: dict) -> None:
            self.published.append(event)

    broker = RecordingBroker()
    store.event_broker = broker
    await play([store], "cus_b", ["session", turn("hi")])
    tracker = await store.retrieve("cus_b")
    tracker.update_with_events(turn("again"), DOMAIN)
    broker.published.clear()
    await store.save(tracker)
    assert [e["event"] for e in broker.published] == ["user", "action", "bot", "action"]
    assert {e["sender_id"] for e in broker.published} == {"cus_b"}


async def test_history_has_no_expiry(store, redis_url):
    await play([store], "cus_t", ["session", turn("keep me")])
    raw = connect_sync(redis_url)
    for key in raw.keys("tl:trk:*"):
        assert raw.ttl(key) == -1, key


def test_check_connection_fails_loudly_when_redis_is_down():
    class Config:
        url = f"redis://127.0.0.1:{free_port()}/0"

    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="unreachable"):
        CustomerTrackerStore.check_connection(Config())
    assert time.monotonic() - started < 10


def test_constructor_rejects_missing_or_foreign_urls():
    with pytest.raises(StorageUnavailable, match="no Redis URL"):
        CustomerTrackerStore(domain=DOMAIN, host=None)
    with pytest.raises(StorageUnavailable, match="is not a Redis URL"):
        CustomerTrackerStore(domain=DOMAIN, host="postgresql://localhost/db")


async def test_first_use_against_a_dead_redis_raises_instead_of_returning_nothing():
    dead = CustomerTrackerStore(domain=DOMAIN, host=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StorageUnavailable):
        await dead.retrieve("cus_x")


async def test_concurrent_writers_without_a_lock_lose_and_duplicate_nothing(redis_url):
    """Even if two servers wrote at once (no lock), every turn is stored once and whole."""
    servers = [CustomerTrackerStore(domain=DOMAIN, host=redis_url) for _ in range(2)]
    await play([servers[0]], "cus_c", ["session"])

    async def write_turn(i: int) -> None:
        store_ = servers[i % 2]
        tracker = await store_.retrieve("cus_c")
        await asyncio.sleep(0)  # let the other writers retrieve the same state
        tracker.update_with_events(turn(f"message {i}"), DOMAIN)
        await store_.save(tracker)

    await asyncio.gather(*(write_turn(i) for i in range(50)))
    history = await servers[0].read_history("cus_c")
    texts = [e["text"] for e in history if e["event"] == "user"]
    assert sorted(texts) == sorted(f"message {i}" for i in range(50))
    kinds = [e["event"] for e in history[3:]]
    assert kinds == ["user", "action", "bot", "action"] * 50  # each turn's events stay together
    for store_ in servers:
        await store_.close()


# --- stable event ids and the turn index -------------------------------------------------

def _ids(history: List[dict]) -> List[str]:
    return [event_id("cus_id", e) for e in history]


async def test_every_stored_message_gets_an_id_once_and_every_event_keeps_its_id(store):
    await play([store], "cus_id", ["session", turn("one")])
    first = await store.read_history("cus_id")
    # Messages (what the timeline, summaries and console key on) store theirs; other events
    # are never rewritten, so the id derived from their content is as stable and unique.
    assert all(isinstance(e.get(EVENT_ID), str) and len(e[EVENT_ID]) == 22 for e in first if e["event"] in ("user", "bot"))
    assert not any(EVENT_ID in e for e in first if e["event"] not in ("user", "bot"))
    assert len(set(_ids(first))) == len(first)

    tracker = await store.retrieve("cus_id")  # Rasa rebuilds the tracker; the ids stay stored
    tracker.update_with_events(turn("two"), DOMAIN)
    await store.save(tracker)
    await store.save(tracker)
    second = await store.read_history("cus_id")
    assert _ids(second)[: len(first)] == _ids(first)
    assert len(set(_ids(second))) == len(second) == len(first) + 4

    # A merge reads the history and writes it back: the same ids, not new ones.
    await store.rewrite_history("cus_id", second)
    assert _ids(await store.read_history("cus_id")) == _ids(second)
    # A tracker Rasa built elsewhere (no ids in memory) appends only its new events.
    rebuilt = DialogueStateTracker.from_events(
        "cus_id", [*(await store.retrieve("cus_id")).events, *turn("three")], DOMAIN.slots)
    await store.save(rebuilt)
    third = await store.read_history("cus_id")
    assert _ids(third)[: len(second)] == _ids(second) and len(set(_ids(third))) == len(third)


async def test_rasa_reads_stored_events_with_ids_as_it_wrote_them(store):
    events = [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet", "confidence": 1.0}, [{"entity": "x", "value": "y"}],
                    message_id="wamid.1", metadata={"channel": "whatsapp"}),
        SlotSet("customer_name", "Ana"), ActionExecuted("utter_greet"), BotUttered("hi", {"buttons": []}),
        ConversationPaused(), ConversationResumed(), FollowupAction("utter_greet"), Restarted(),
        ActiveLoop("form"), LoopInterrupted(True), ActionExecutionRejected("action_x"),
        ReminderScheduled("greet", datetime(2026, 12, 1), name="r"), ReminderCancelled("r"),
        AllSlotsReset(), UserUtteranceReverted(), ActionReverted(), StoryExported(),
        AgentUttered("agent text"), SessionStarted(),
    ]
    tracker = DialogueStateTracker.from_events("cus_rt", events, DOMAIN.slots)
    await store.save(tracker)
    stored = await store.read_history("cus_rt")
    assert all(EVENT_ID in e for e in stored if e["event"] in ("user", "bot"))
    full = await store.retrieve_full_tracker("cus_rt")
    assert [e.as_dict() for e in full.events] == [e.as_dict() for e in events]
    assert [{k: v for k, v in e.items() if k != EVENT_ID} for e in stored] == \
        [inflated_event(slim_event(e.as_dict(), "cus_rt")) for e in events]


async def test_has_turn_knows_the_provider_message_ids_of_stored_user_events(store):
    tracker = await store.get_or_create_tracker("cus_turn", append_action_listen=False)
    await start_session(tracker)
    tracker.update(UserUttered("hi", {"name": "greet", "confidence": 1.0}, message_id="wamid.A"))
    tracker.update(ActionExecuted("action_listen"))
    assert not await store.has_turn("cus_turn", "wamid.A")  # not saved yet: not a turn
    await store.save(tracker)
    assert await store.has_turn("cus_turn", "wamid.A")
    assert not await store.has_turn("cus_turn", "wamid.B")
    assert not await store.has_turn("cus_other", "wamid.A")  # per customer


async def test_the_turn_index_moves_with_a_rewrite_and_is_capped(store, monkeypatch):
    tracker = DialogueStateTracker.from_events("cus_m", [
        UserUttered("a", message_id="m1"), UserUttered("b", message_id="m2")], DOMAIN.slots)
    await store.save(tracker)
    history = await store.read_history("cus_m")
    # A merge moves the merged customer's events to the survivor: their turns go too.
    await store.rewrite_history("cus_survivor", history)
    await store.rewrite_history("cus_m", [])
    assert await store.has_turn("cus_survivor", "m1") and await store.has_turn("cus_survivor", "m2")
    assert not await store.has_turn("cus_m", "m1")

    monkeypatch.setattr(event_log, "TURNS_KEPT", 3)
    for n in range(3, 7):
        tracker = await store.retrieve("cus_survivor")
        tracker.update(UserUttered(str(n), message_id=f"m{n}"))
        await store.save(tracker)
    kept = [m for m in ("m1", "m2", "m3", "m4", "m5", "m6") if await store.has_turn("cus_survivor", m)]
    assert kept == ["m4", "m5", "m6"]  # the newest turns are remembered
    await store.delete_history("cus_survivor")
    assert not await store.has_turn("cus_survivor", "m6")


async def test_a_rewrite_keeps_an_event_from_before_ids_as_it_was(store):
    # Stored before ids existed: its CRM rows are keyed by its derived id, which must not move.
    legacy = {"event": "user", "timestamp": 1.0, "text": "hello", "parse_data": {}}
    await store.rewrite_history("cus_old", [legacy])
    before = event_id("cus_old", (await store.read_history("cus_old"))[0])
    stored = await store.read_history("cus_old")
    await store.rewrite_history("cus_old", stored)
    again = (await store.read_history("cus_old"))[0]
    assert EVENT_ID not in again and event_id("cus_old", again) == before
