"""The tracker and lock stores used from two running event loops, as in the Rasa server:
the Sanic loop serves the HTTP API while webhook turns run on the bot loop
(connectors/webhook/botloop.py). Rasa builds each store once and shares it."""
from __future__ import annotations

import pytest
from rasa.shared.core.events import SlotSet, UserUttered

from threadline.conversation.lock_store import CustomerLockStore
from threadline.conversation.tracker_store import CustomerTrackerStore
from connectors.webhook.botloop import BotLoop
from tests.support.conversations import DOMAIN, start_session, turn


@pytest.fixture
def bot_loop():
    loop = BotLoop()  # not the shared one: this test owns and stops it
    yield loop
    loop.loop.call_soon_threadsafe(loop.loop.stop)
    loop.thread.join(timeout=5)


async def test_tracker_store_serves_both_loops(redis_url, bot_loop):
    store = CustomerTrackerStore(domain=DOMAIN, host=redis_url)

    async def bot_turn(text: str) -> None:
        tracker = await store.get_or_create_tracker("cus_two_loops", append_action_listen=False)
        if not tracker.events:
            await start_session(tracker)
        tracker.update_with_events(turn(text), DOMAIN)
        await store.save(tracker)

    await bot_loop.run(bot_turn("first, on the bot loop"))
    tracker = await store.retrieve_full_tracker("cus_two_loops")  # the HTTP API, on this loop
    tracker.update_with_events([SlotSet("customer_name", "Ana")], DOMAIN)
    await store.save(tracker)
    await bot_loop.run(bot_turn("second, on the bot loop"))
    final = await store.retrieve("cus_two_loops")
    texts = [e.text for e in final.events if isinstance(e, UserUttered)]
    assert texts == ["first, on the bot loop", "second, on the bot loop"]
    assert final.get_slot("customer_name") == "Ana"
    await store.close()  # closes the bot loop's connections on the bot loop


async def test_lock_store_serves_both_loops(redis_url, bot_loop):
    store = CustomerLockStore(url=redis_url, lifetime=2)

    async def hold() -> str:
        async with store.lock("cus_two_loops"):
            return "held on the bot loop"

    assert await bot_loop.run(hold()) == "held on the bot loop"
    async with store.lock("cus_two_loops"):  # an agent message through the HTTP API
        pass
    assert await bot_loop.run(hold()) == "held on the bot loop"
    await store.close()
