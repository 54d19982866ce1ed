"""CustomerLockStore against a real redis-server: exclusion, FIFO, expiry, fencing, renewal."""
from __future__ import annotations

import asyncio
import time

import pytest
from rasa.core.lock_store import LockError

from threadline.conversation.lock_store import CustomerLockStore, lifetime_from_env
from threadline.conversation.redis_connection import StorageUnavailable
from tests.support.redis_server import free_port


@pytest.fixture
async def servers(redis_url):
    """Two lock stores with their own connections, like two Rasa servers."""
    stores = [CustomerLockStore(url=redis_url, lifetime=2) for _ in range(2)]
    yield stores
    for store in stores:
        await store.close()


async def test_only_one_holder_at_a_time_across_servers(servers):
    inside = 0
    most_inside = 0
    finished = []

    async def message(i: int) -> None:
        nonlocal inside, most_inside
        async with servers[i % 2].lock("cus_1"):
            inside += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0.002)  # yield to the loop while "working"
            inside -= 1
            finished.append(i)

    await asyncio.gather(*(message(i) for i in range(60)))
    assert most_inside == 1
    assert sorted(finished) == list(range(60))


async def test_other_customers_are_not_blocked(servers):
    async with servers[0].lock("cus_a"):
        await asyncio.wait_for(_enter_and_leave(servers[1], "cus_b"), timeout=1)


async def _enter_and_leave(store: CustomerLockStore, customer: str) -> None:
    async with store.lock(customer):
        pass


async def test_waiters_are_served_in_ticket_order(servers):
    order = []
    entered, all_queued = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with servers[0].lock("cus_f"):
            entered.set()
            await all_queued.wait()  # every waiter holds its ticket before the lock is freed
            order.append("holder")

    async def waiter(i: int) -> None:
        async with servers[i % 2].lock("cus_f"):
            order.append(i)

    first = asyncio.create_task(holder())
    await entered.wait()
    waiters = []
    for i in range(6):  # take tickets one after another, across both servers
        waiters.append(asyncio.create_task(waiter(i)))
        await _until_queued(servers[0], "cus_f", i + 2)
    all_queued.set()
    await asyncio.gather(first, *waiters)
    assert order == ["holder", 0, 1, 2, 3, 4, 5]


async def _until_queued(store: CustomerLockStore, customer: str, tickets: int) -> None:
    queue = store.keys_for(customer)[1]
    while await store.client.zcard(queue) < tickets:
        await asyncio.sleep(0.001)


async def test_dead_holder_is_expired_within_the_lifetime(servers, redis_url):
    crashed = CustomerLockStore(url=redis_url, lifetime=1)
    # A server that took the lock and died: ticket issued, never renewed nor released.
    await crashed._issue(keys=crashed.keys_for("cus_d"), args=[1000, "crashed"])
    await crashed.close()

    started = time.monotonic()
    async with servers[0].lock("cus_d"):
        waited = time.monotonic() - started
    assert 0.8 < waited < 2.5


async def test_slow_holder_keeps_the_lock_beyond_its_lifetime(redis_url):
    # 2 s lifetimes renewed every 0.67 s: short enough to outlive several, long enough that a
    # busy machine's scheduling delays don't look like a dead holder.
    slow, other = CustomerLockStore(url=redis_url, lifetime=2), CustomerLockStore(url=redis_url, lifetime=2)
    events = []

    async def slow_action() -> None:
        async with slow.lock("cus_s") as held:
            events.append("slow in")
            await asyncio.sleep(5)  # two and a half lifetimes; the heartbeat must keep it
            assert not held.lost
            events.append("slow out")

    task = asyncio.create_task(slow_action())
    while not events:
        await asyncio.sleep(0.01)
    async with other.lock("cus_s"):
        events.append("other in")
    await task
    assert events == ["slow in", "slow out", "other in"]
    await slow.close()
    await other.close()


async def test_the_lock_is_freed_when_the_turn_ends_even_if_the_renewal_swallows_its_cancel(redis_url):
    # The race behind a turn that never ended (its lock renewed for 25 minutes): the turn ends
    # while a renewal's Redis reply is late, the cancel lands as the read times out, async_timeout
    # turns it into a TimeoutError and redis-py retries the renewal instead of stopping.
    holder, other = CustomerLockStore(url=redis_url, lifetime=3), CustomerLockStore(url=redis_url, lifetime=3)
    real_poll = holder._poll
    renewing = asyncio.Event()

    async def late_renewal_that_survives_cancel(keys, args):
        renewing.set()
        try:
            await asyncio.sleep(0.5)  # late, yet well within the 3 s lease: it stays renewed
        except asyncio.CancelledError:
            pass  # converted and retried, as in redis-py
        return await real_poll(keys=keys, args=args)

    async def turn() -> None:
        async with holder.lock("cus_race"):
            holder._poll = late_renewal_that_survives_cancel
            await renewing.wait()

    await asyncio.wait_for(turn(), timeout=10)
    async with other.lock("cus_race", wait_time_in_seconds=None) as next_turn:
        assert not next_turn.lost
    await holder.close()
    await other.close()


async def test_release_removes_only_the_callers_own_ticket(servers):
    store = servers[0]
    keys = store.keys_for("cus_fence")
    stale = (await store._issue(keys=keys, args=[50, "stale"])).decode()
    await asyncio.sleep(0.1)  # the stale holder's lease lapses (it was presumed dead)

    async with servers[1].lock("cus_fence") as current:
        # The stale holder wakes up and releases "its" lock: the current holder must keep it.
        assert await store._release(keys=keys, args=[stale]) == 0
        assert int(await store._poll(keys=keys, args=[current.ticket, 2000])) == 0
        third = asyncio.create_task(_enter_and_leave(store, "cus_fence"))
        await asyncio.sleep(0.2)
        assert not third.done()
    await asyncio.wait_for(third, timeout=2)


async def test_waiting_gives_up_with_a_lock_error_after_max_wait(redis_url):
    holder = CustomerLockStore(url=redis_url, lifetime=5)
    impatient = CustomerLockStore(url=redis_url, lifetime=5, max_wait=0.3)
    async with holder.lock("cus_w"):
        with pytest.raises(LockError, match="giving up"):
            async with impatient.lock("cus_w"):
                pass
    await holder.close()
    await impatient.close()


def test_lifetime_from_env(monkeypatch):
    monkeypatch.setenv("THREADLINE_LOCK_LIFETIME", "400")
    assert lifetime_from_env() == 400
    monkeypatch.setenv("THREADLINE_LOCK_LIFETIME", "soon")
    with pytest.raises(ValueError, match="THREADLINE_LOCK_LIFETIME"):
        lifetime_from_env()


def test_check_connection_fails_when_redis_is_down():
    class Config:
        url = f"redis://127.0.0.1:{free_port()}/0"

    with pytest.raises(StorageUnavailable, match="lock store"):
        CustomerLockStore.check_connection(Config())


async def test_acquire_against_a_dead_redis_raises():
    store = CustomerLockStore(url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(LockError, match="issue failed"):
        async with store.lock("cus_x"):
            pass
