"""Delivered and read ticks in headless Chromium on the scripted stack: the widget reports a
bot's answer read only once the visitor can see it (page visible, panel open, the bubble in
view) and the inbox worker records it as it records WhatsApp's read statuses; the visitor's
own message shows ✓✓ once answered."""
from __future__ import annotations

import aiohttp
import pytest

from connectors.webhook.records import ChannelRecords
from tests.channels.conftest import scripted_env
from tests.channels.helpers import handled
from tests.support.webchat import Widget, webchat_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.asyncio
SHADOW = "#threadline-webchat >> "


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return webchat_env(scripted_env(redis_server, tmp_path_factory))


async def status_of(store, customer_id: str, seq: int) -> str:
    return (await ChannelRecords(store).message("webchat", f"webchat:{customer_id}:{seq}")).get("status", "")


async def after_rendering(page) -> None:
    """Two frames later: the visibility observers of the frame that showed an entry have run."""
    await page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


async def test_read_only_when_seen_and_answered_messages_show_two_ticks(bot, store, browser):
    site = bot.base.rsplit("/webhooks", 1)[0]
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(30_000)
    await page.goto(f"{site}/webhooks/webchat/demo")
    await page.click(SHADOW + ".launcher")
    await page.fill(SHADOW + "textarea", "hello")
    await page.press(SHADOW + "textarea", "Enter")
    await page.wait_for_selector(SHADOW + ".bot .text:has-text('You said: hello')")
    mine = page.locator(SHADOW + ".customer .tick")
    await page.wait_for_selector(SHADOW + '.customer[data-read="1"]')
    assert (await mine.text_content(), await mine.get_attribute("aria-label")) == ("\u2713\u2713", "Read")
    customer_id = (await handled(store))[0]["sender_id"]
    await wait_for(lambda: _is(store, customer_id, 2, "read"), timeout=15)

    # The panel closed, an answer arrives (to the visitor's other tab): shown to nobody, so
    # not read; opening the panel reads it.
    await page.click(SHADOW + ".x")
    visitor = await page.evaluate("localStorage.getItem('threadline.webchat.visitor')")
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"{bot.base.replace('http', 'ws', 1)}/webchat/socket", headers={"Origin": site})
    other_tab = Widget(ws, session)
    await other_tab.send({"type": "hello", "visitor": visitor, "after": 2})
    await other_tab.say("from my phone")
    await page.wait_for_selector(SHADOW + ".bot .text:has-text('You said: from my phone')", state="attached")
    await other_tab.close()
    await after_rendering(page)
    assert await page.get_attribute("#threadline-webchat", "data-read") == "2"
    assert await status_of(store, customer_id, 4) == "accepted"
    await page.click(SHADOW + ".launcher")
    await wait_for(lambda: _is(store, customer_id, 4, "read"), timeout=15)
    assert await page.get_attribute("#threadline-webchat", "data-read") == "4"


async def _is(store, customer_id: str, seq: int, status: str) -> bool:
    return await status_of(store, customer_id, seq) == status
