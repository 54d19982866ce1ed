"""Killing the bot (server and inbox worker) between the webhook's 200 and the bot's answer
loses nothing."""
from __future__ import annotations

import pytest

from threadline.sandbox import payloads as p
from connectors.webhook.inbox import backlog
from tests.channels.conftest import ScriptedStack, post
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
