"""The optional notification on a new handoff, against a real local webhook server."""
from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionHandoff
from tests.crm.trackers import DOMAIN, tracker
from threadline.handoff import notify
from threadline.handoff.store import open_handoffs


async def webhook(handler) -> TestServer:
    app = web.Application()
    app.router.add_post("/hook", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_new_handoff_posts_its_summary_and_console_link(database, crm, monkeypatch):
    received = []

    async def hook(request):
        received.append((request.content_type, await request.json()))
        return web.Response(text="ok")

    server = await webhook(hook)
    monkeypatch.setenv("HANDOFF_WEBHOOK_URL", str(server.make_url("/hook")))
    monkeypatch.setenv("HANDOFF_CONSOLE_URL", "https://console.example.com/")
    try:
        await ActionHandoff().run(CollectingDispatcher(), tracker(intent="request_human", text="a person please"), DOMAIN)
        await asyncio.gather(*notify._pending)
        [handoff] = await open_handoffs(database)
        assert received == [("application/json", {"text": (
            f"New handoff: {handoff.summary['paragraph']}\nhttps://console.example.com/handoffs/{handoff.id}")})]
        # A second trigger for the same customer opens nothing and notifies nobody.
        await ActionHandoff().run(CollectingDispatcher(), tracker(intent="complaint"), DOMAIN)
        await asyncio.gather(*notify._pending)
        assert len(received) == 1
    finally:
        await server.close()


async def test_a_hanging_or_failing_webhook_never_fails_the_handoff(database, crm, monkeypatch):
    async def hang(request):
        await asyncio.sleep(30)
        return web.Response()

    server = await webhook(hang)
    monkeypatch.setenv("HANDOFF_WEBHOOK_URL", str(server.make_url("/hook")))
    try:
        started = time.monotonic()
        events = await ActionHandoff().run(CollectingDispatcher(), tracker(intent="request_human"), DOMAIN)
        assert events == [ConversationPaused()]
        assert time.monotonic() - started < 2  # the customer's answer does not wait for the webhook
        assert await notify.post_notification(str(server.make_url("/hook")), "x", timeout_s=0.3) is False
        assert await notify.post_notification("http://127.0.0.1:9/hook", "x", timeout_s=1) is False
        await asyncio.wait_for(asyncio.gather(*notify._pending), timeout=notify.TIMEOUT_S + 2)
    finally:
        await server.close()


def test_without_a_webhook_url_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("HANDOFF_WEBHOOK_URL", raising=False)

    async def go():
        return notify.notify_new_handoff("hof_x", "paragraph")

    assert asyncio.run(go()) is None
