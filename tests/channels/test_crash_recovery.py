"""Killing the bot (server and inbox worker) between the webhook's 200 and the bot's answer
loses nothing; killing the inbox worker after the answer went out but before the
acknowledgement sends nothing twice."""
from __future__ import annotations

import sys

import aiohttp
import pytest
from redis.asyncio import Redis
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bench.rasa_stack import RasaStack
from connectors.webhook.inbox import backlog
from threadline.conversation import failpoints
from threadline.conversation.tracker_store import CustomerTrackerStore
from threadline.sandbox import payloads as p
from threadline.training import model_path
from tests.channels.bot_server import LONG_TEXT
from tests.channels.conftest import ScriptedStack, ScriptedWorker, post
from tests.support.sandbox import serve_sandbox
from tests.support.waiting import wait_for
from tests.channels.helpers import handled, sent

WA_ID = "5511987654321"


async def pending(store, channel="whatsapp"):
    """Lanes a worker holds a lease on."""
    return await store.hlen(f"tl:inbox:{channel}:owners")


@pytest.mark.parametrize("restart_as", ["same consumer", "another consumer"])
async def test_message_acknowledged_then_server_killed_is_answered_after_restart(
        restart_as, channel_env, sandbox, store, tmp_path):
    server = ScriptedStack(channel_env, tmp_path)
    # The bot never finishes a turn; a short lease, so another consumer may take over soon.
    server.start(BOT_BLOCK="1", THREADLINE_INBOX_CONSUMER="server-a", THREADLINE_INBOX_LEASE_MS="1500")
    try:
        message = p.whatsapp_message("text", WA_ID, {"body": "meu pedido?"})
        envelope = p.whatsapp_envelope(channel_env["WHATSAPP_PHONE_NUMBER_ID"], [message],
                                       contacts=[p.whatsapp_contact(WA_ID, "Ana")])
        assert await post(f"{server.base}/whatsapp/webhook", p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)) == 200
        await wait_for(lambda: pending(store))  # taken by the consumer, in the middle of its turn
    finally:
        server.kill()
    assert sent(sandbox, "whatsapp", WA_ID) == []
    assert await store.llen("test:handled") == 0

    consumer = "server-a" if restart_as == "same consumer" else "server-b"
    server.start(THREADLINE_INBOX_CONSUMER=consumer, THREADLINE_INBOX_LEASE_MS="1500")
    try:
        [event] = await handled(store, timeout=20)
        assert event["text"] == "meu pedido?" and event["message_id"] == message["id"]
        reply = (await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID), timeout=10))[0]
        assert reply["body"]["text"]["body"] == "You said: meu pedido?"
        assert await wait_for(lambda: _drained(store))
    finally:
        server.stop()
    log = server.log()
    assert "replaying 1 lane(s)" in log if restart_as == "same consumer" else "took over 1 lane(s)" in log


async def _drained(store):
    return await pending(store) == 0 and await backlog(store, "whatsapp") == 0


async def test_delivery_while_the_server_starts_is_refused_for_a_retry_then_accepted(channel_env, sandbox, store, tmp_path):
    server = ScriptedStack(channel_env, tmp_path)
    server.start(wait=False, BOT_START_DELAY_S="3")  # listening, channels not started yet
    edge = server.edge
    try:
        edge.wait_until(lambda: edge.health("whatsapp") is not None, "listen")
        assert edge.health("whatsapp") == 503
        message = p.whatsapp_message("text", WA_ID, {"body": "cedo demais?"})
        envelope = p.whatsapp_envelope(channel_env["WHATSAPP_PHONE_NUMBER_ID"], [message])
        delivery = p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)
        assert await post(f"{server.base}/whatsapp/webhook", delivery) == 503  # Meta delivers it again
        edge.wait_until(lambda: edge.health("whatsapp") == 200, "start")
        assert await post(f"{server.base}/whatsapp/webhook", delivery) == 200  # the retry
        [event] = await handled(store)
        assert event["text"] == "cedo demais?"
    finally:
        server.stop()
    assert "rejected with 503" in server.log()


# --- the inbox worker dies after the provider confirmed the answer -------------------------

@pytest.fixture
def worker(channel_env, tmp_path):
    process = ScriptedWorker(channel_env, tmp_path / "worker.log")
    yield process
    process.stop()


def whatsapp_text(env, text: str) -> tuple:
    message = p.whatsapp_message("text", WA_ID, {"body": text})
    envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], [message], contacts=[p.whatsapp_contact(WA_ID, "Ana")])
    return message, p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope)


def died_at_failpoint(worker: ScriptedWorker) -> bool:
    return worker.process.poll() == failpoints.EXIT_CODE


@pytest.mark.parametrize("text, parts", [("meu pedido?", 1), ("long", 2)])
async def test_worker_killed_after_the_answer_went_out_sends_nothing_twice(
        text, parts, channel_env, sandbox, store, edge, worker, tmp_path):
    armed = {"THREADLINE_FAILPOINTS": f"{failpoints.AFTER_PROVIDER_SEND}=1",
             "THREADLINE_FAILPOINTS_DIR": str(tmp_path / "failpoints")}
    worker.start(**armed)
    _, delivery = whatsapp_text(channel_env, text)
    assert await post(f"{edge.base}/whatsapp/webhook", delivery) == 200
    await wait_for(lambda: died_at_failpoint(worker), timeout=20)  # the first message is out, not acknowledged
    assert len(sent(sandbox, "whatsapp", WA_ID)) == 1
    assert await pending(store) == 1

    worker.start(**armed)  # restarted as the supervisor does; the point fired once for the run
    await handled(store, count=2, timeout=60)  # the turn ran again (the scripted bot keeps no tracker)
    await wait_for(lambda: _drained(store), timeout=20)
    replies = [r["body"]["text"]["body"] for r in sent(sandbox, "whatsapp", WA_ID)]
    assert len(replies) == parts and len(set(replies)) == parts  # every message once, none twice
    assert " ".join(replies).split() == (LONG_TEXT if text == "long" else f"You said: {text}").split()
    assert "position 0 already sent; not sent again" in worker.log()
    assert (tmp_path / "failpoints" / f"{failpoints.AFTER_PROVIDER_SEND}.fired").exists()


async def test_a_replayed_event_that_is_already_a_turn_in_the_log_is_acknowledged_not_run(
        channel_env, sandbox, store, edge, worker, identity):
    message, delivery = whatsapp_text(channel_env, "já respondida")
    # The turn was saved (Rasa stored the user event with the provider's message id), then the
    # process died before the inbox acknowledgement: the inbox still holds the entry.
    customer_id = await identity.resolve("whatsapp", WA_ID)
    tracker_store = CustomerTrackerStore(host=channel_env["REDIS_URL"])
    try:
        await tracker_store.save(DialogueStateTracker.from_events(
            customer_id, [UserUttered("já respondida", message_id=message["id"])]))
    finally:
        await tracker_store.close()
    assert await post(f"{edge.base}/whatsapp/webhook", delivery) == 200
    worker.start()
    await wait_for(lambda: _drained(store), timeout=20)
    assert await store.llen("test:handled") == 0  # the bot did not run it again
    assert sent(sandbox, "whatsapp", WA_ID) == []
    assert "already a turn in their log" in worker.log()

    _, fresh = whatsapp_text(channel_env, "e agora?")  # the customer's next message is answered
    assert await post(f"{edge.base}/whatsapp/webhook", fresh) == 200
    [event] = await handled(store, timeout=20)
    assert event["text"] == "e agora?"


# --- the real Rasa stack: the worker dies after the turn was saved, before the ack ---------

@pytest.mark.slow
async def test_rasa_turn_saved_then_worker_killed_is_one_user_event_and_one_reply(redis_server, tmp_path):
    redis_server.flush()
    stack = RasaStack(redis_server.url, tmp_path, with_sandbox_process=False)
    stack.env.update(THREADLINE_FAILPOINTS=f"{failpoints.AFTER_TRACKER_SAVE}=1",
                     THREADLINE_FAILPOINTS_DIR=str(tmp_path / "failpoints"))
    stack.start()
    try:
        async with serve_sandbox(stack.env, stack.sandbox_port) as provider:
            message, delivery = whatsapp_text(stack.env, "hey there")
            assert await post(f"{stack.base}/webhooks/whatsapp/webhook", delivery) == 200
            await wait_for(lambda: stack.worker.poll() == failpoints.EXIT_CODE, timeout=60)
            [reply] = sent(provider, "whatsapp", WA_ID)  # answered and saved, never acknowledged

            stack.worker = stack._spawn("worker", [  # the supervisor's restart
                sys.executable, "-m", "threadline.inbox_worker", "--endpoints", "endpoints.yml",
                "--credentials", "credentials.yml", "--model", str(model_path())])
            redis = Redis.from_url(stack.env["REDIS_URL"])
            try:
                await wait_for(lambda: _drained(redis), timeout=120)
                customer_id = (await redis.hget(f"tl:out:msg:whatsapp:{reply['id']}", "customer_id")).decode()
            finally:
                await redis.close()
            assert len(sent(provider, "whatsapp", WA_ID)) == 1
            async with aiohttp.ClientSession() as session:
                url = f"{stack.base}/conversations/{customer_id}/tracker?token={stack.token}"
                async with session.get(url) as response:
                    events = (await response.json())["events"]
            assert [e["message_id"] for e in events if e["event"] == "user"] == [message["id"]]
    finally:
        stack.stop()
    assert "already a turn in their log" in (tmp_path / "worker.log").read_text()
