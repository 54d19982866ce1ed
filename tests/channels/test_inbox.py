"""The inbox on a real Redis: exactly-once storage; per-customer order across workers;
leases (a live turn is never taken over, a dead worker's lane is); parking and dead letters."""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from redis.asyncio import Redis

from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import (DEFAULT_LEASE_MS, AckPolicy, Inbox, InboxConsumer, NotReplicated, backlog,
                                      dead_letter_counts, note_customer, recent_dead_letters)
from tests.channels.inbox_process import JOURNAL
from threadline.cli.main import main as threadline_cli
from threadline.conversation import failpoints
from threadline.conversation.redis_connection import connect
from threadline.conversation.lock_store import DEFAULT_LIFETIME_S, CustomerLockStore
from tests.support.waiting import wait_for

PROJECT = Path(__file__).resolve().parents[2]


def event(address: str, n: int, text: str = "") -> InboundEvent:
    return InboundEvent(channel="test", kind="message", event_id=f"{address}-{n}", address=address,
                        text=text or str(n))


class Running:
    """Consumers started in the test's loop, each on a Redis client of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.tasks: List[asyncio.Task] = []
        self.consumers: List[InboxConsumer] = []
        self.clients: List[Redis] = []

    def start(self, name: str, handler, **options) -> InboxConsumer:
        client = connect(self.url)
        consumer = InboxConsumer(client, "test", name, handler, **options)
        self.clients.append(client)
        self.consumers.append(consumer)
        self.tasks.append(asyncio.create_task(consumer.run()))
        return consumer

    async def close(self) -> None:
        await asyncio.gather(*(consumer.stop(grace_s=1) for consumer in self.consumers))
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.clients:
            await client.close()


@pytest.fixture
async def redis(redis_url):
    client = connect(redis_url)
    yield client
    await client.close()


@pytest.fixture
async def consumers(redis_url):
    running = Running(redis_url)
    yield running
    await running.close()


async def test_concurrent_accepts_store_each_event_once(redis):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    batch = [event("a", n) for n in range(20)]
    results = await asyncio.gather(*(inbox.accept(batch) for _ in range(5)))
    assert sorted(results) == [0, 0, 0, 0, 20]
    assert await backlog(redis, "test") == 20
    assert await redis.lrange("tl:inbox:test:lane:test:a", 0, -1) == [e.to_json().encode() for e in batch]
    assert 0 < await redis.ttl("tl:dedupe:test:a-0") <= 60


async def test_ack_replicas_a_redis_without_replicas_refuses_to_confirm_and_stores_once(redis):
    """THREADLINE_ACK_REPLICAS=1 on a Redis with no replica: every accept says `NotReplicated`
    (the webhook's 503) after the timeout, and the provider's retries store nothing twice."""
    inbox = Inbox(redis, "test", dedupe_ttl_s=60, ack=AckPolicy(replicas=1, timeout_ms=100))
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(NotReplicated) as refused:
            await inbox.accept([event("ana", 1)])
        assert (refused.value.wanted, refused.value.held) == (1, 0)
        assert time.monotonic() - started >= 0.09  # WAIT waited for its timeout
    assert await backlog(redis, "test") == 1
    assert await Inbox(redis, "test", dedupe_ttl_s=60).accept([event("ana", 2)]) == 1  # N=0: no WAIT


@pytest.mark.parametrize("replicas, timeout, problem", [
    ("one", "", "THREADLINE_ACK_REPLICAS must be 0 or a positive integer"),
    ("-1", "", "THREADLINE_ACK_REPLICAS must be 0 or a positive integer"),
    ("1", "5000", "THREADLINE_ACK_TIMEOUT_MS must be below 5000"),
    ("1", "0", "THREADLINE_ACK_TIMEOUT_MS must be a positive integer"),
])
def test_ack_policy_refuses_bad_settings_naming_the_variable(monkeypatch, replicas, timeout, problem):
    monkeypatch.setenv("THREADLINE_ACK_REPLICAS", replicas)
    monkeypatch.setenv("THREADLINE_ACK_TIMEOUT_MS", timeout)
    with pytest.raises(ValueError, match=problem):
        AckPolicy.from_env()


def test_ack_policy_defaults_to_no_wait(monkeypatch):
    monkeypatch.delenv("THREADLINE_ACK_REPLICAS", raising=False)
    monkeypatch.delenv("THREADLINE_ACK_TIMEOUT_MS", raising=False)
    assert AckPolicy.from_env() == AckPolicy(replicas=0, timeout_ms=1000)


async def test_two_workers_handle_every_lane_in_accepted_order_each_message_once(redis, consumers):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    handled: Dict[str, List[int]] = defaultdict(list)
    by_worker: Dict[str, int] = defaultdict(int)
    running_lanes, overlaps = set(), []

    def handler_for(worker: str):
        async def handler(e: InboundEvent) -> None:
            if e.address in running_lanes:
                overlaps.append(e.event_id)  # two turns of one customer at once
            running_lanes.add(e.address)
            await asyncio.sleep(random.uniform(0, 0.01))
            handled[e.address].append(int(e.text))
            by_worker[worker] += 1
            running_lanes.discard(e.address)
        return handler

    consumers.start("w1", handler_for("w1"), lease_ms=2000)
    consumers.start("w2", handler_for("w2"), lease_ms=2000)
    started = time.monotonic()
    lanes = [f"customer{c}" for c in range(50)]
    for n in range(10):  # interleaved, accepted while both workers drain
        random.shuffle(lanes)
        await inbox.accept([event(lane, n) for lane in lanes])
        await asyncio.sleep(random.uniform(0, 0.02))
    await wait_for(lambda: sum(map(len, handled.values())) == 500, timeout=60)
    print(f"\ninbox: 50 lanes x 10 messages by two workers in {time.monotonic() - started:.2f} s "
          f"(w1 {by_worker['w1']}, w2 {by_worker['w2']})")
    assert {lane: order for lane, order in handled.items() if order != list(range(10))} == {}
    assert overlaps == []
    assert by_worker["w1"] > 0 and by_worker["w2"] > 0  # both took lanes
    assert await wait_for(lambda: _drained(redis))


async def test_a_failing_message_parks_its_lane_with_backoff_then_dead_letters_and_the_lane_resumes(redis, consumers):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    attempts: List[float] = []
    journal: List[str] = []

    async def handler(e: InboundEvent) -> None:
        if e.event_id == "poison-1":
            attempts.append(time.monotonic())
            note_customer("cus_poison")  # identity was resolved before the failure
            raise ValueError(f"the bot broke on {e.text!r}")
        journal.append(e.event_id)

    consumers.start("w1", handler, lease_ms=2000, max_attempts=4, retry_base_ms=200)
    await inbox.accept([event("poison", 1, text="segredo do cliente"), event("poison", 2), event("poison", 3)])
    await inbox.accept([event("fine", n) for n in range(1, 4)])
    await wait_for(lambda: len(attempts) >= 2)
    assert journal == ["fine-1", "fine-2", "fine-3"]  # the other lane went on; poison-2 waits
    await wait_for(lambda: journal[3:] == ["poison-2", "poison-3"], timeout=15)
    assert len(attempts) == 4
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:])]
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39 and gaps[2] >= 0.79, gaps  # 200, 400, 800 ms

    [letter] = await recent_dead_letters(redis)
    assert (letter.channel, letter.order_key, letter.customer_id, letter.attempts) == (
        "test", "test:poison", "cus_poison", 4)
    assert letter.reason == "ValueError: the bot broke on '…'"  # never the customer's words
    assert await dead_letter_counts(redis) == {"test": 1}
    [(_, fields)] = await redis.xrange("tl:inbox:test:dead")
    assert InboundEvent.from_json(fields[b"event"]).event_id == "poison-1"  # kept for a replay
    assert await wait_for(lambda: _drained(redis))


async def test_a_message_that_fails_once_is_retried_before_the_next_of_its_lane(redis, consumers):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    journal: List[str] = []
    failed = []

    async def handler(e: InboundEvent) -> None:
        if e.event_id == "ana-1" and not failed:
            failed.append(e.event_id)
            raise ConnectionError("CRM down")
        journal.append(e.event_id)

    consumers.start("w1", handler, lease_ms=2000, retry_base_ms=100)
    await inbox.accept([event("ana", n) for n in range(1, 4)])
    await wait_for(lambda: len(journal) == 3)
    assert journal == ["ana-1", "ana-2", "ana-3"]
    assert await redis.xlen("tl:inbox:test:dead") == 0


async def test_an_unreadable_entry_is_dead_lettered_with_its_reason_and_the_lane_goes_on(redis, consumers):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    await redis.rpush("tl:inbox:test:lane:test:bia", b"{not json")
    await inbox.accept([event("bia", 1)])
    journal: List[str] = []

    async def handler(e: InboundEvent) -> None:
        journal.append(e.event_id)

    consumers.start("w1", handler, lease_ms=2000)
    await wait_for(lambda: journal == ["bia-1"])
    [letter] = await recent_dead_letters(redis)
    assert letter.order_key == "test:bia" and letter.reason == "unreadable entry: JSONDecodeError"
    assert letter.customer_id is None and letter.attempts == 1


async def test_a_long_turn_with_its_heartbeat_is_never_taken_over(redis, consumers):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    starts: List[str] = []
    done: List[str] = []

    def handler_for(worker: str):
        async def handler(e: InboundEvent) -> None:
            starts.append(f"{worker} {e.event_id}")
            if e.event_id == "ana-1":
                await asyncio.sleep(4)  # ten leases long
            done.append(e.event_id)
        return handler

    consumers.start("w1", handler_for("w1"), lease_ms=400)
    await inbox.accept([event("ana", 1), event("ana", 2)])
    await wait_for(lambda: starts)
    consumers.start("w2", handler_for("w2"), lease_ms=400)  # idle, sweeping every 133 ms
    await wait_for(lambda: done == ["ana-1", "ana-2"], timeout=15)
    assert [s.split()[1] for s in starts] == ["ana-1", "ana-2"]  # each once
    assert starts[0].startswith("w1")


def consumer_process(url: str, name: str, lease_ms: int, log: Path, *options: str,
                     env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.channels.inbox_process", url, "test", name, str(lease_ms),
                             *options], cwd=PROJECT, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


async def test_failpoint_before_inbox_ack_ends_the_worker_after_the_turn_and_the_message_stays(
        redis, redis_url, tmp_path):
    await Inbox(redis, "test", dedupe_ttl_s=60).accept([event("ana", 1), event("ana", 2)])
    armed = {"THREADLINE_FAILPOINTS": "before_inbox_ack=1", "THREADLINE_FAILPOINTS_DIR": str(tmp_path / "fp")}
    worker = consumer_process(redis_url, "worker-1", 60_000, tmp_path / "worker.log", env=armed)
    assert await asyncio.to_thread(worker.wait, 30) == failpoints.EXIT_CODE
    assert await redis.lrange(JOURNAL, 0, -1) == [b"start worker-1 ana-1", b"done worker-1 ana-1"]
    assert await backlog(redis, "test") == 2  # the turn ran; its message was not removed
    again = consumer_process(redis_url, "worker-1", 60_000, tmp_path / "worker.log", env=armed)
    try:  # the restarted worker counts on from hit 1: the point does not fire again
        await wait_for(lambda: _journal(redis, "done worker-1 ana-2"), timeout=30)
        assert await wait_for(lambda: _drained(redis))
    finally:
        again.kill()
        again.wait()


async def test_a_killed_workers_lane_is_taken_over_within_its_lease(redis, redis_url, consumers, tmp_path):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    lease_ms = 1500
    doomed = consumer_process(redis_url, "doomed", lease_ms, tmp_path / "doomed.log")
    try:
        await inbox.accept([event("ana", 1, text="block"), event("ana", 2), event("ana", 3)])
        await wait_for(lambda: _journal(redis, "start doomed ana-1"), timeout=30)
        journal: List[str] = []

        async def handler(e: InboundEvent) -> None:
            journal.append(e.event_id)

        consumers.start("survivor", handler, lease_ms=lease_ms)
        doomed.send_signal(signal.SIGKILL)  # mid-turn: no release, no acknowledgement
        doomed.wait()
        killed = time.monotonic()
        await wait_for(lambda: journal == ["ana-1", "ana-2", "ana-3"], timeout=10)
        took = time.monotonic() - killed
        print(f"\ninbox: lane of a SIGKILLed worker answered by another {took:.2f} s later (lease {lease_ms} ms)")
        assert took < lease_ms / 1000 + 1.0, took  # the lease, one sweep, and the turns
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait()


@pytest.mark.slow
async def test_with_the_default_lease_and_rasa_lock_a_dead_workers_customer_is_answered_within_30_s(
        redis, redis_url, consumers, tmp_path):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    doomed = consumer_process(redis_url, "doomed", DEFAULT_LEASE_MS, tmp_path / "doomed.log", "--rasa-lock")
    locks = CustomerLockStore(url=redis_url)
    try:
        await inbox.accept([event("ana", 1, text="block"), event("ana", 2)])
        await wait_for(lambda: _journal(redis, "start doomed ana-1"), timeout=30)
        journal: List[str] = []

        async def handler(e: InboundEvent) -> None:
            async with locks.lock(e.address):  # the dead worker's ticket is still ahead of ours
                journal.append(e.event_id)

        consumers.start("survivor", handler)  # defaults: lease 15 s, sweep 2 s
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        killed = time.monotonic()
        await wait_for(lambda: journal == ["ana-1", "ana-2"], timeout=40)
        took = time.monotonic() - killed
        print(f"\ninbox: default lease {DEFAULT_LEASE_MS} ms and lock lifetime {DEFAULT_LIFETIME_S:.0f} s: "
              f"a SIGKILLed worker's customer answered {took:.1f} s later")
        assert took < 30, took
    finally:
        await locks.close()
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait()


async def test_a_restarted_worker_takes_its_own_lanes_back_at_once(redis, redis_url, consumers, tmp_path):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    first_run = consumer_process(redis_url, "worker-1", 60_000, tmp_path / "first.log")
    try:
        await inbox.accept([event("ana", 1, text="block"), event("ana", 2)])
        await wait_for(lambda: _journal(redis, "start worker-1 ana-1"), timeout=30)
    finally:
        first_run.send_signal(signal.SIGKILL)
        first_run.wait()
    journal: List[str] = []

    async def handler(e: InboundEvent) -> None:
        journal.append(e.event_id)

    started = time.monotonic()
    consumers.start("worker-1", handler, lease_ms=60_000)  # its name: the leases were its own
    await wait_for(lambda: journal == ["ana-1", "ana-2"], timeout=10)
    assert time.monotonic() - started < 5  # not the minute the lease would have lasted


async def test_stop_finishes_running_turns_then_hands_the_lanes_back(redis, consumers):
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    await inbox.accept([event(f"customer{c}", n) for n in (1, 2) for c in range(20)])  # a backlog
    started, finished = [], []

    async def handler(e: InboundEvent) -> None:
        started.append(e.event_id)
        await asyncio.sleep(0.3)
        finished.append(e.event_id)

    first = consumers.start("w1", handler, lease_ms=60_000, max_in_flight=4)
    await wait_for(lambda: len(started) == 4)
    await first.stop()
    assert sorted(finished) == sorted(started) and len(started) == 4  # none cut off, none begun late
    assert await backlog(redis, "test") == 36
    assert await redis.hlen("tl:inbox:test:owners") == 0  # handed back, not left to a lapsing lease
    consumers.start("w2", handler, lease_ms=60_000, max_in_flight=40)
    await wait_for(lambda: len(finished) == 40, timeout=15)
    assert sorted(started) == sorted({e for e in started})  # none twice


async def test_events_left_in_the_stream_inbox_of_before_join_their_lanes(redis, consumers):
    old = [event("ana", 1), event("ana", 2), event("bia", 1)]
    for e in old:
        await redis.xadd("tl:inbox:test", {"event": e.to_json()})
    journal: List[str] = []

    async def handler(e: InboundEvent) -> None:
        journal.append(e.event_id)

    consumers.start("w1", handler, lease_ms=2000)
    await wait_for(lambda: len(journal) == 3)
    assert [e for e in journal if e.startswith("ana")] == ["ana-1", "ana-2"]
    assert await redis.xlen("tl:inbox:test") == 0


async def _journal(redis: Redis, line: str) -> bool:
    return line.encode() in await redis.lrange(JOURNAL, 0, -1)


async def _drained(redis: Redis) -> bool:
    return await backlog(redis, "test") == 0 and await redis.hlen("tl:inbox:test:owners") == 0


async def test_threadline_info_counts_the_inbox_dead_letters(redis, redis_url, consumers, monkeypatch, capsys):
    async def handler(e: InboundEvent) -> None:
        raise RuntimeError("always")

    consumers.start("w1", handler, lease_ms=2000, max_attempts=1)
    await Inbox(redis, "test", dedupe_ttl_s=60).accept([event("ana", 1), event("bia", 1)])
    await wait_for(lambda: _drained(redis))
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert await asyncio.to_thread(threadline_cli, ["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inbox_dead_letters"] == {"total": 2, "by_channel": {"test": 2}}
    assert await asyncio.to_thread(threadline_cli, ["info"]) == 0
    out = capsys.readouterr().out
    assert "2 channel message(s) not answered (test: 2)" in out and "dead letters 0 timeline event(s)" in out
