"""The fallback transport (server-sent events plus POSTs) on the scripted stack: in headless
Chromium with WebSocket deleted by an init script the widget chats anyway, and after a cut
network it replays what it missed, nothing lost or doubled; over plain HTTP the same checks
as the socket's (origin, token, frame, limits) refuse bad requests with one log line, and no
entry of another conversation reaches the refused visitor."""
from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from tests.channels.conftest import scripted_env
from tests.support.webchat import open_widget, site_token, webchat_env, with_proxy
from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio
SHADOW = "#threadline-webchat >> "
VICTIM_TEXT = "my card ends in 4242"
NO_WEBSOCKET = "delete window.WebSocket;"


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return with_proxy(webchat_env(scripted_env(redis_server, tmp_path_factory)))


def origin(bot) -> str:
    return bot.base.rsplit("/webhooks", 1)[0]


async def texts(page) -> list:
    return await page.eval_on_selector_all(SHADOW + ".msg .text", "els => els.map(e => e.textContent)")


async def say(page, text: str) -> None:
    await page.fill(SHADOW + "textarea", text)
    await page.press(SHADOW + "textarea", "Enter")


async def shows(page, text: str) -> bool:
    return text in await texts(page)


async def test_without_websocket_the_widget_chats_and_replays_after_a_cut(bot, proxy, browser, channel_env):
    page = await browser.new_page()
    page.set_default_timeout(30_000)
    await page.add_init_script(NO_WEBSOCKET)
    await page.goto(f"http://127.0.0.1:{channel_env['PROXY_PORT']}/webhooks/webchat/demo")
    await page.click(SHADOW + ".launcher")
    await page.wait_for_selector('#threadline-webchat[data-transport="sse"]', state="attached")
    await say(page, "hello without sockets")
    await wait_for(lambda: shows(page, "You said: hello without sockets"), timeout=20)
    await page.wait_for_selector(SHADOW + '.customer[data-read="1"]')

    # The network drops; the visitor writes meanwhile, and their other tab gets an answer.
    await proxy.cut()
    await page.wait_for_selector(SHADOW + ".status:has-text('reconnecting')")
    await say(page, "written while offline")
    visitor = await page.evaluate("localStorage.getItem('threadline.webchat.visitor')")
    other_tab = await open_widget(bot, visitor=visitor, after=2)
    await other_tab.say("from my other tab")
    await wait_for(lambda: "You said: from my other tab" in other_tab.texts(), timeout=20)
    await other_tab.close()
    await proxy.restore()
    await wait_for(lambda: shows(page, "You said: written while offline"), timeout=40)
    await wait_for(lambda: shows(page, "You said: from my other tab"))
    assert sorted(await texts(page)) == sorted([
        "hello without sockets", "You said: hello without sockets", "from my other tab",
        "You said: from my other tab", "written while offline", "You said: written while offline"])
    seqs = await page.eval_on_selector_all(SHADOW + ".msg", "els => els.map(e => Number(e.dataset.seq || 0))")
    assert sorted(seqs) == [1, 2, 3, 4, 5, 6]  # each entry once, none missing

    # A reload, still without sockets: the same history, once.
    await page.reload()
    await page.click(SHADOW + ".launcher")
    await wait_for(lambda: shows(page, "You said: written while offline"))
    assert len(await texts(page)) == 6


async def hello(session, bot, frame, headers=None):
    async with session.post(f"{bot.base}/webchat/hello", data=json.dumps(frame),
                            headers={"Origin": origin(bot), **(headers or {})}) as answer:
        return answer.status, await answer.json()


async def events_after(session, bot, token: str, last: int, until: str):
    """The entry frames of the SSE stream from `last` on, read until one has text `until`."""
    frames = []
    async with session.get(f"{bot.base}/webchat/events", headers={
            "Origin": origin(bot), "Authorization": f"Visitor {token}", "Last-Event-ID": str(last)}) as stream:
        assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        async for line in stream.content:
            if line.startswith(b"data:"):
                frames.append(json.loads(line[5:]))
                if frames[-1].get("text") == until:
                    return frames
    return frames


async def post_frame(session, bot, token: str, frame, origin_header=None):
    body = frame if isinstance(frame, str) else json.dumps(frame)
    async with session.post(f"{bot.base}/webchat/messages", data=body, headers={
            "Origin": origin_header or origin(bot), "Authorization": f"Visitor {token}"}) as answer:
        return answer.status, await answer.json()


async def test_the_fallback_carries_numbered_entries_and_replays_from_last_event_id(bot):
    async with aiohttp.ClientSession() as session:
        status, welcome = await hello(session, bot, {"type": "hello", "after": 0})
        assert status == 200 and welcome["reset"] and welcome["visitor"]
        token = welcome["visitor"]
        status, reply = await post_frame(session, bot, token, {"type": "message", "id": "m-1", "text": "one"})
        assert status == 200 and reply["frames"][0] == {"type": "ack", "id": "m-1", "seq": 1}
        first = await events_after(session, bot, token, 0, "You said: one")
        assert [(f["seq"], f["text"]) for f in first] == [(1, "one"), (2, "You said: one")]
        # The same message again (its ack was lost): the same number, answered once.
        assert (await post_frame(session, bot, token, {"type": "message", "id": "m-1", "text": "one"}))[1][
            "frames"] == [{"type": "ack", "id": "m-1", "seq": 1}]
        await post_frame(session, bot, token, {"type": "message", "id": "m-2", "text": "two"})
        again = await events_after(session, bot, token, 2, "You said: two")
        assert [(f["seq"], f["text"]) for f in again] == [(3, "two"), (4, "You said: two")]


@pytest.fixture
async def victim(bot):
    widget = await open_widget(bot, login=site_token("victim-fallback"))
    await widget.welcome()
    await widget.say(VICTIM_TEXT)
    await wait_for(lambda: f"You said: {VICTIM_TEXT}" in widget.texts(), timeout=15)
    await widget.close()


async def test_bad_fallback_requests_are_refused_and_show_nothing(bot, victim):
    async with aiohttp.ClientSession() as session:
        _, welcome = await hello(session, bot, {"type": "hello", "after": 0})
        token = welcome["visitor"]
        forged = token[:-4] + "AAAA"
        assert (await hello(session, bot, {"type": "hello", "after": 0}, {"Origin": "https://evil.example"}))[0] == 403
        assert (await hello(session, bot, {"type": "hello", "login": site_token("victim-fallback", secret="x")}))[0] == 401
        assert (await hello(session, bot, {"type": "message", "id": "1", "text": "hi"}))[0] == 400
        assert (await post_frame(session, bot, forged, {"type": "message", "id": "1", "text": "hi"}))[0] == 401
        assert (await post_frame(session, bot, token, {"type": "message", "id": "1", "text": "hi"},
                                 origin_header="https://evil.example"))[0] == 403
        assert (await post_frame(session, bot, token, "not json"))[0] == 400
        assert (await post_frame(session, bot, token, {"type": "message", "id": "big", "text": "x" * 9000}))[0] == 413
        async with session.get(f"{bot.base}/webchat/events", headers={
                "Origin": origin(bot), "Authorization": f"Visitor {forged}"}) as stream:
            assert stream.status == 401 and VICTIM_TEXT not in await stream.text()
        statuses = [(await post_frame(session, bot, token, {"type": "message", "id": uuid.uuid4().hex,
                                                            "text": f"spam {n}"}))[0] for n in range(20)]
        assert statuses.count(200) == 15 and statuses[-1] == 429  # the limit is 15 a minute
        shown = await events_after(session, bot, token, 0, "You said: spam 14")
        assert VICTIM_TEXT not in json.dumps(shown)
    assert "fallback message refused with 429: too many messages" in bot.edge.log()
    assert "fallback hello refused with 403: origin not allowed" in bot.edge.log()
