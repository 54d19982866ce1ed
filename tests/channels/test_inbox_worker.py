"""The one runtime path: the server only acknowledges, the inbox worker process runs the bot
turns (threadline/inbox_worker.py with the scripted bot)."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from connectors.webhook.inbox import backlog
from threadline.sandbox import payloads as p
from tests.channels.conftest import BotServer, ScriptedWorker, post
from tests.channels.helpers import handled, sent, settle
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for

WA_ID = "5511987654321"


@pytest.fixture
def worker(channel_env, tmp_path):
    process = ScriptedWorker(channel_env, tmp_path / "worker.log")
    yield process
    process.stop()


def whatsapp(env, text: str, wa_id: str = WA_ID) -> p.Delivery:
    envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], [p.whatsapp_message("text", wa_id, {"body": text})],
                                   contacts=[p.whatsapp_contact(wa_id, "Ana")])
    return p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope)


async def test_the_server_only_stores_and_the_worker_answers_in_order(channel_env, sandbox, store, edge, worker):
    url = f"{edge.base}/whatsapp/webhook"
    for text in ("primeira", "segunda", "terceira"):
        assert await post(url, whatsapp(channel_env, text)) == 200
    assert await settle(store) == []  # no turn runs in the server
    assert await backlog(store, "whatsapp") == 3

    worker.start()
    events = await handled(store, count=3)
    assert [e["text"] for e in events] == ["primeira", "segunda", "terceira"]
    replies = await wait_for(lambda: len(sent(sandbox, "whatsapp", WA_ID)) == 3 and sent(sandbox, "whatsapp", WA_ID))
    assert [r["body"]["text"]["body"] for r in replies] == ["You said: primeira", "You said: segunda", "You said: terceira"]
    assert "rejected" not in edge.log()


async def test_two_workers_answer_each_customer_in_order(channel_env, sandbox, store, edge, tmp_path):
    workers = [ScriptedWorker(channel_env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
    try:
        for n, worker in enumerate(workers, 1):
            worker.start(THREADLINE_INBOX_CONSUMER=f"worker-{n}", THREADLINE_INBOX_WORKER_PORT=str(free_port()),
                         BOT_DELAY_S="0.02")
        customers = [f"55119100000{c:02d}" for c in range(12)]
        url = f"{edge.base}/whatsapp/webhook"
        for n in range(5):  # interleaved: every customer's n-th message, then the next round
            for wa_id in customers:
                assert await post(url, whatsapp(channel_env, f"mensagem {n}", wa_id=wa_id)) == 200
        events = await handled(store, count=60, timeout=60)
        by_customer = {}
        for e in events:
            by_customer.setdefault(e["metadata"]["address"], []).append(e["text"])
        assert by_customer == {wa_id: [f"mensagem {n}" for n in range(5)] for wa_id in customers}
        assert {e["worker"] for e in events} == {"worker-1", "worker-2"}  # both took customers
    finally:
        for worker in workers:
            worker.stop()


async def test_acks_stay_fast_while_a_bot_turn_holds_the_gil(channel_env, sandbox, store, edge, worker):
    worker.start()
    url = f"{edge.base}/whatsapp/webhook"
    assert await post(url, whatsapp(channel_env, "hold the gil", wa_id="5511900000001")) == 200
    latencies = []
    async with aiohttp.ClientSession() as session:
        async def ack(n: int) -> None:
            delivery = whatsapp(channel_env, f"oi {n}", wa_id=f"55119{n:08d}")
            started = time.perf_counter()
            async with session.post(url, data=delivery.body, headers=delivery.headers) as response:
                await response.read()
                assert response.status == 200
            latencies.append(time.perf_counter() - started)

        deadline = time.monotonic() + 20
        n = 10
        while not await _held(store) and time.monotonic() < deadline:
            await ack(n)  # while the worker's turn holds its GIL for ~1 s
            n += 1
            await asyncio.sleep(0.02)
    held = await _held(store)
    assert held and held["metadata"]["held_gil_s"] > 0.3
    # In the server's process, one of these would have waited for the whole turn.
    assert max(latencies) < min(0.25, held["metadata"]["held_gil_s"] / 2), latencies
    assert len(latencies) >= 5


async def test_worker_killed_mid_turn_answers_after_restart(channel_env, sandbox, store, edge, worker):
    worker.start(BOT_BLOCK="1")  # never finishes a turn
    assert await post(f"{edge.base}/whatsapp/webhook", whatsapp(channel_env, "meu pedido?")) == 200
    await wait_for(lambda: _pending(store))  # taken by the worker, in the middle of its turn
    worker.kill()
    assert sent(sandbox, "whatsapp", WA_ID) == []

    worker.start()
    [event] = await handled(store, timeout=20)
    assert event["text"] == "meu pedido?"
    [reply] = await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID), timeout=10)
    assert reply["body"]["text"]["body"] == "You said: meu pedido?"
    assert "replaying 1 lane(s) left by this worker's previous run" in worker.log()


async def test_worker_stops_on_sigterm_and_the_edge_keeps_accepting(channel_env, sandbox, store, edge, worker):
    worker.start()
    worker.stop()
    assert worker.process.returncode == 0
    assert await post(f"{edge.base}/whatsapp/webhook", whatsapp(channel_env, "ainda aí?")) == 200
    assert await backlog(store, "whatsapp") == 1


async def test_the_retired_worker_mode_switch_is_ignored_with_one_warning(channel_env, sandbox, store, tmp_path):
    server = BotServer(channel_env, tmp_path / "old-edge.log")
    server.start(THREADLINE_INBOX_WORKER="in-process")  # once meant: answer in the server
    try:
        for text in ("um", "dois"):
            assert await post(f"{server.base}/whatsapp/webhook", whatsapp(channel_env, text)) == 200
        assert await wait_for(lambda: _backlog_is(store, 2))
    finally:
        server.stop()
    assert server.log().count("THREADLINE_INBOX_WORKER is set but ignored") == 1
    assert await store.llen("test:handled") == 0  # nothing answered without a worker


async def _backlog_is(store, count: int) -> bool:
    return await backlog(store, "whatsapp") == count


async def _held(store):
    return next((e for e in await settle(store, 0) if e["text"] == "hold the gil"), None)


async def _pending(store) -> int:
    """Lanes a worker holds a lease on."""
    return await store.hlen("tl:inbox:whatsapp:owners")
