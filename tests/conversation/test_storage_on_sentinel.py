"""The tracker store, the lock store and the inbox on Redis Sentinel (1 primary, 2 replicas,
3 sentinels started here): the storage tests of tests/conversation/test_tracker_store.py,
test_lock_store.py and tests/channels/test_inbox.py run again through a `redis+sentinel://`
URL, then a failover (the primary SIGKILLed) after which turns are saved again within 30 s."""
from __future__ import annotations

import asyncio
import signal
import time

import pytest
from rasa.core.lock_store import LockError
from rasa.core.tracker_store import RedisTrackerStore
from redis.exceptions import RedisError

from tests.channels.test_inbox import consumers, redis  # noqa: F401  (fixtures)
from tests.channels.test_inbox import (  # noqa: F401  (collected here, on Sentinel)
    test_a_failing_message_parks_its_lane_with_backoff_then_dead_letters_and_the_lane_resumes,
    test_a_long_turn_with_its_heartbeat_is_never_taken_over, test_concurrent_accepts_store_each_event_once,
    test_stop_finishes_running_turns_then_hands_the_lanes_back,
    test_two_workers_handle_every_lane_in_accepted_order_each_message_once)
from tests.conversation.test_lock_store import servers  # noqa: F401  (fixture)
from tests.conversation.test_lock_store import (  # noqa: F401
    test_dead_holder_is_expired_within_the_lifetime, test_only_one_holder_at_a_time_across_servers,
    test_release_removes_only_the_callers_own_ticket, test_waiters_are_served_in_ticket_order)
from tests.conversation.test_tracker_store import (  # noqa: F401
    play, test_concurrent_writers_without_a_lock_lose_and_duplicate_nothing, test_has_turn_knows_the_provider_message_ids_of_stored_user_events,
    test_history_has_no_expiry, test_paged_history_rewrite_and_delete,
    test_pause_state_across_sessions_matches_rasa, test_retrieve_returns_last_session_with_carried_slots_like_rasa,
    test_save_appends_only_new_events_and_is_idempotent)
from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import AckPolicy, Inbox, NotReplicated, backlog
from tests.support.conversations import DOMAIN, turn
from tests.support.sentinel import SERVICE, SentinelSetup
from tests.support.waiting import wait_for
from threadline.conversation.lock_store import CustomerLockStore
from threadline.conversation.redis_connection import StorageUnavailable, connect
from threadline.conversation.tracker_store import CustomerTrackerStore


@pytest.fixture(scope="module")
def redis_server():
    """Overrides the session's plain Redis for this module: `redis_url` is redis+sentinel://."""
    setup = SentinelSetup()
    yield setup
    setup.stop()


@pytest.fixture
def rasa_store(redis_url, redis_server):
    """Rasa's own store, the reference the tracker tests compare with, on the current primary."""
    return RedisTrackerStore(DOMAIN, host="127.0.0.1", port=redis_server.primary_port(), db=0, key_prefix="rasa")


async def test_a_store_keeps_writing_through_a_switch_of_primary(redis_url, redis_server):
    """`SENTINEL FAILOVER`: the primary is demoted to a replica (its clients are cut off or
    get READONLY) and a replica promoted. The same store object, with its open connections,
    saves the next turn on the new primary."""
    store = CustomerTrackerStore(domain=DOMAIN, host=redis_url)
    try:
        await play([store], "cus_s", ["session", turn("on the first primary")])
        old_primary = redis_server.primary_port()
        redis_server.sentinel_client().sentinel_failover(SERVICE)
        await wait_for(lambda: redis_server.primary_port() != old_primary, timeout=20)
        await play([store], "cus_s", [turn("on the second primary")])
        texts = [event.get("text") for event in await store.read_history("cus_s") if event.get("event") == "user"]
        assert texts == ["on the first primary", "on the second primary"]
        assert await wait_for(lambda: redis_server.role_of(old_primary) == "slave", timeout=20)
    finally:
        await store.close()


async def test_a_repeated_delivery_is_confirmed_only_once_the_replicas_hold_the_first(redis_url, redis_server):
    """THREADLINE_ACK_REPLICAS=2, one replica stopped (SIGSTOP): the delivery is refused; the
    provider's retry, reaching another server whose connection never wrote, is refused too
    (WAIT counts a connection's own writes: the accept writes even for a repeat); once the
    replica is back, the retry is confirmed, and the event is stored once."""
    first_edge, second_edge = connect(redis_url), connect(redis_url)
    policy = AckPolicy(replicas=2, timeout_ms=300)
    delivery = [InboundEvent(channel="test", kind="message", event_id="wamid.1", address="ana", text="oi")]
    stopped = redis_server.replica_ports()[0]
    try:
        redis_server.nodes[stopped].send_signal(signal.SIGSTOP)
        with pytest.raises(NotReplicated):
            await Inbox(first_edge, "test", 60, policy).accept(delivery)
        with pytest.raises(NotReplicated):
            await Inbox(second_edge, "test", 60, policy).accept(delivery)
        redis_server.nodes[stopped].send_signal(signal.SIGCONT)
        assert await wait_for(lambda: _confirmed(Inbox(second_edge, "test", 60, policy), delivery), timeout=20)
        assert await backlog(second_edge, "test") == 1  # stored once
    finally:
        redis_server.nodes[stopped].send_signal(signal.SIGCONT)
        await first_edge.close()
        await second_edge.close()


async def _confirmed(inbox: Inbox, delivery) -> bool:
    try:
        return await inbox.accept(delivery) == 0
    except NotReplicated:
        return False


async def test_zz_turns_are_saved_again_within_30_s_of_killing_the_primary(redis_url, redis_server):
    """Last in this module (the set-up keeps one replica). A turn saved before the kill (and
    replicated) is still there; turns keep being tried until one is stored on the new primary."""
    store, locks = CustomerTrackerStore(domain=DOMAIN, host=redis_url), CustomerLockStore(url=redis_url)
    try:
        await play([store], "cus_f", ["session", turn("before the failover")])
        redis_server.wait_replicated()
        old_primary, killed_at = redis_server.kill_primary()
        failures = 0
        while True:
            try:
                async with locks.lock("cus_f"):
                    await play([store], "cus_f", [turn("after the failover")])
                break
            except (StorageUnavailable, LockError, RedisError) as error:
                failures += 1
                assert time.monotonic() - killed_at < 30, f"no write within 30 s ({type(error).__name__})"
                await asyncio.sleep(0.2)
        resumed_s = time.monotonic() - killed_at
        print(f"\nsentinel failover: a turn saved {resumed_s:.1f} s after SIGKILL of the primary "
              f"({failures} failed attempts)")
        assert redis_server.primary_port() != old_primary
        texts = [event.get("text") for event in await store.read_history("cus_f") if event.get("event") == "user"]
        assert texts == ["before the failover", "after the failover"]
    finally:
        await store.close()
        await locks.close()
