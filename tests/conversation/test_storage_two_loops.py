"""The tracker and lock stores used from two running event loops of one process (Rasa builds
each store once and shares it; threadline/conversation/redis_connection.py keeps one client
per loop): here the test's loop and a loop on a thread of its own."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable

import pytest
from rasa.shared.core.events import SlotSet, UserUttered

from threadline.conversation.lock_store import CustomerLockStore
from threadline.conversation.tracker_store import CustomerTrackerStore
from tests.support.conversations import DOMAIN, start_session, turn


class ThreadLoop:
    """An event loop running on a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="second-loop", daemon=True)
        self.thread.start()

    async def run(self, coroutine: Awaitable[Any]) -> Any:
        """Run `coroutine` on this loop and wait for it from the calling loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture
def second_loop():
    loop = ThreadLoop()
    yield loop
    loop.stop()


async def test_tracker_store_serves_both_loops(redis_url, second_loop):
    store = CustomerTrackerStore(domain=DOMAIN, host=redis_url)

    async def bot_turn(text: str) -> None:
        tracker = await store.get_or_create_tracker("cus_two_loops", append_action_listen=False)
        if not tracker.events:
            await start_session(tracker)
        tracker.update_with_events(turn(text), DOMAIN)
        await store.save(tracker)

    await second_loop.run(bot_turn("first, on the second loop"))
    tracker = await store.retrieve_full_tracker("cus_two_loops")  # the HTTP API, on this loop
    tracker.update_with_events([SlotSet("customer_name", "Ana")], DOMAIN)
    await store.save(tracker)
    await second_loop.run(bot_turn("second, on the second loop"))
    final = await store.retrieve("cus_two_loops")
    texts = [e.text for e in final.events if isinstance(e, UserUttered)]
    assert texts == ["first, on the second loop", "second, on the second loop"]
    assert final.get_slot("customer_name") == "Ana"
    await store.close()  # closes the second loop's connections on that loop


async def test_lock_store_serves_both_loops(redis_url, second_loop):
    store = CustomerLockStore(url=redis_url, lifetime=2)

    async def hold() -> str:
        async with store.lock("cus_two_loops"):
            return "held on the second loop"

    assert await second_loop.run(hold()) == "held on the second loop"
    async with store.lock("cus_two_loops"):  # an agent message through the HTTP API
        pass
    assert await second_loop.run(hold()) == "held on the second loop"
    await store.close()
