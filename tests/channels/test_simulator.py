"""The customer simulator: what a person clicks goes through the real, signed webhooks."""
from __future__ import annotations

import aiohttp
import pytest

from tests.support.sandbox import page_headers
from tests.support.waiting import wait_for
from tests.channels.helpers import handled

ADDRESSES = {"whatsapp": "5511987654321", "instagram": "1784140512345678", "sms": "+5511987654321"}


async def simulator(channel_env, method, path, **kwargs):
    url = f"http://127.0.0.1:{channel_env['THREADLINE_SANDBOX_PORT']}{path}"
    async with aiohttp.ClientSession(headers=page_headers(channel_env)) as session:
        async with session.request(method, url, **kwargs) as response:
            return response.status, (await response.json() if response.content_type == "application/json" else await response.text())


@pytest.mark.parametrize("channel", ["whatsapp", "instagram", "sms"])
async def test_chat_from_the_simulator_page(channel, bot, sandbox, store, channel_env):
    status, page = await simulator(channel_env, "GET", "/")
    assert status == 200 and "customer simulator" in page
    address = ADDRESSES[channel]
    say = {"channel": channel, "address": address, "name": "Ana"}
    status, answer = await simulator(channel_env, "POST", "/sandbox/inbound", json={**say, "text": "menu 2"})
    assert (status, answer["webhook_status"]) == (200, 200)
    conversation = await wait_for(lambda: _messages(channel_env, channel, address, 2))
    offered = conversation[1]
    assert offered["direction"] == "out"
    if channel == "sms":
        assert "2. Option 2" in offered["text"]
        click = {"text": "2"}  # the page answers with the number on SMS
    else:
        assert offered["buttons"] == ["Option 1", "Option 2"]
        click = {"payload": offered["payloads"][1], "title": "Option 2"}
    await simulator(channel_env, "POST", "/sandbox/inbound", json={**say, **click})
    await simulator(channel_env, "POST", "/sandbox/inbound", json={**say, "media": "image"})
    events = await handled(store, 3)
    assert [e["text"] for e in events] == ["menu 2", '/choose{"n":2}', "/share_media"]
    assert all(e["sender_id"] == events[0]["sender_id"] for e in events)
    conversation = await wait_for(lambda: _messages(channel_env, channel, address, 6))
    assert conversation[-1]["text"] == "Thanks, I received it."
    # WhatsApp shows the customer that the business read each message it answered.
    said = [m for m in conversation if m["direction"] == "in"]
    assert [m.get("read", False) for m in said] == [channel == "whatsapp"] * 3


async def _messages(channel_env, channel, address, count):
    _, data = await simulator(channel_env, "GET", "/sandbox/conversation", params={"channel": channel, "address": address})
    return data["messages"] if len(data["messages"]) >= count else None


async def test_simulator_refuses_channels_that_are_not_sandboxed(bot, sandbox, channel_env):
    status, answer = await simulator(channel_env, "POST", "/sandbox/inbound", json={"channel": "email", "address": "a@b.c", "text": "hi"})
    assert status == 400 and "sandboxed channel" in answer["error"]
