"""The widget in headless Chromium (Playwright) on the demo host page, against the scripted
stack (the real web chat channel in the Rasa-shaped server, an inbox worker answering, real
Redis and CRM), the page reached through a proxy the test can cut like a lost signal:
an anonymous visitor chats, a reload keeps the history, the network drops mid-conversation
and comes back with nothing lost or doubled, and signing in with a token from the demo
backend joins the visitor to their WhatsApp conversation. Also: screenshots at desktop and
mobile width and the send → answer figures (results/webchat/)."""
from __future__ import annotations

import json
import statistics
import time

import aiohttp
import pytest

from threadline.sandbox import payloads as p
from tests.channels.conftest import PROJECT, post, scripted_env
from tests.channels.helpers import handled
from tests.support.webchat import Widget, webchat_env, with_proxy
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.slow(minutes=2)]
RESULTS = PROJECT / "results" / "webchat"
WA_ID = "5511987650077"
ROUNDS = 30


@pytest.fixture(scope="module")
def channel_env(redis_server, tmp_path_factory):
    return {**with_proxy(webchat_env(scripted_env(redis_server, tmp_path_factory))),
            "WEBCHAT_MAX_MESSAGES_PER_MINUTE": "200"}


async def texts(page) -> list:
    return await page.eval_on_selector_all("#threadline-webchat >> .msg .text", "els => els.map(e => e.textContent)")


async def seqs(page) -> list:
    return await page.eval_on_selector_all("#threadline-webchat >> .msg", "els => els.map(e => Number(e.dataset.seq || 0))")


async def say(page, text: str) -> None:
    await page.fill("#threadline-webchat >> textarea", text)
    await page.press("#threadline-webchat >> textarea", "Enter")


async def answered(page, text: str, timeout: float = 20) -> None:
    await wait_for(lambda: _has(page, f"You said: {text}"), timeout=timeout)


async def _has(page, text: str) -> bool:
    return text in await texts(page)


async def test_visitor_chats_reloads_loses_the_network_and_signs_in(bot, sandbox, store, identity, proxy, browser,
                                                                    channel_env):
    envelope = p.whatsapp_envelope(channel_env["WHATSAPP_PHONE_NUMBER_ID"],
                                   [p.whatsapp_message("text", WA_ID, {"body": "order 991 has not arrived"})],
                                   [], [p.whatsapp_contact(WA_ID, "Bia Lima")])
    assert await post(f"{bot.base}/whatsapp/webhook", p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)) == 200
    whatsapp_customer = (await handled(store))[0]["sender_id"]

    site = f"http://127.0.0.1:{channel_env['PROXY_PORT']}"
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(30_000)
    await page.goto(f"{site}/webhooks/webchat/demo")
    await page.click("#threadline-webchat >> .launcher")
    assert await page.get_attribute("#threadline-webchat >> .launcher", "aria-expanded") == "true"

    # Anonymous: a message, its delivered tick, the bot's answer.
    await say(page, "hello from the website")
    await answered(page, "hello from the website")
    await page.wait_for_selector('#threadline-webchat >> .customer[data-delivered="1"]')
    assert await texts(page) == ["hello from the website", "You said: hello from the website"]

    # A reload shows the same history, once.
    await page.reload()
    await page.click("#threadline-webchat >> .launcher")
    await wait_for(lambda: _has(page, "You said: hello from the website"))
    assert await texts(page) == ["hello from the website", "You said: hello from the website"]

    # The network drops. The visitor writes meanwhile (the message waits, unticked), and an
    # answer is produced while they are away (their other tab writes on the same visitor).
    await proxy.cut()
    await page.wait_for_selector("#threadline-webchat >> .status:has-text('reconnecting')")
    await say(page, "written while offline")
    await page.wait_for_selector('#threadline-webchat >> .customer[data-delivered="0"]')
    visitor = await page.evaluate("localStorage.getItem('threadline.webchat.visitor')")
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"{bot.base.replace('http', 'ws', 1)}/webchat/socket",
                                  headers={"Origin": f"http://127.0.0.1:{channel_env['BOT_PORT']}"})
    other_tab = Widget(ws, session)
    await other_tab.send({"type": "hello", "visitor": visitor, "after": 2})
    await other_tab.say("from my other tab")
    await wait_for(lambda: "You said: from my other tab" in other_tab.texts(), timeout=20)
    await other_tab.close()
    await proxy.restore()
    await answered(page, "written while offline", timeout=30)
    await wait_for(lambda: _has(page, "You said: from my other tab"))
    shown = await texts(page)
    assert sorted(shown) == sorted(["hello from the website", "You said: hello from the website",
                                    "from my other tab", "You said: from my other tab",
                                    "written while offline", "You said: written while offline"])
    assert sorted(await seqs(page)) == [1, 2, 3, 4, 5, 6]  # each entry once, none missing

    # Sign in through the demo backend with the phone the shop verified: the same customer
    # as on WhatsApp, and the bot's turn runs on that conversation.
    await page.fill("#sub", "shop-user-77")
    await page.fill("#phone", "+" + WA_ID)
    await page.click("#login")
    await page.wait_for_selector('#threadline-webchat[data-state="verified"]', state="attached")
    await wait_for(lambda: _has(page, "You said: written while offline"))  # the chat came along
    turns_before = len(await handled(store, 0))
    await say(page, "any news on my order?")
    await answered(page, "any news on my order?")
    assert (await handled(store, turns_before + 1))[turns_before]["sender_id"] == whatsapp_customer
    assert await identity.resolve("webchat", "u.shop-user-77") == whatsapp_customer

    # The bot's buttons: a tap sends the button's payload, which the channel accepts as the
    # customer's answer because it is the current offer.
    await say(page, "menu 2")
    await page.click("#threadline-webchat >> .buttons button:has-text('Option 2')")
    await wait_for(lambda: _has(page, 'You said: /choose{"n":2}'), timeout=20)
    assert await page.is_disabled("#threadline-webchat >> .buttons button:has-text('Option 1')")

    # Screenshots, then the figures: send → the bot's answer shown in the widget.
    RESULTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(RESULTS / "widget-desktop.png"))
    latencies = []
    for n in range(ROUNDS):
        started = time.perf_counter()
        await say(page, f"timing {n}")
        await page.wait_for_function(
            "t => [...document.querySelector('#threadline-webchat').shadowRoot.querySelectorAll('.bot .text')]"
            ".some(e => e.textContent === t)", arg=f"You said: timing {n}", polling="raf")
        latencies.append((time.perf_counter() - started) * 1000)
    figures = {"rounds": ROUNDS, "median_ms": round(statistics.median(latencies), 1),
               "p95_ms": round(sorted(latencies)[int(0.95 * ROUNDS) - 1], 1),
               "what": "browser send (Enter) to the bot's answer shown in the widget; scripted bot, "
                       "inbox worker, real Redis and channel, headless Chromium"}
    (RESULTS / "latency.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwebchat: send -> answer in the widget median {figures['median_ms']} ms, p95 {figures['p95_ms']} ms")

    mobile = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    await mobile.goto(f"{site}/webhooks/webchat/demo?lang=pt-BR")
    await mobile.click("#threadline-webchat >> .launcher")
    await mobile.fill("#threadline-webchat >> textarea", "Olá! Quero saber do meu pedido")
    await mobile.press("#threadline-webchat >> textarea", "Enter")
    await wait_for(lambda: _has(mobile, "You said: Olá! Quero saber do meu pedido"), timeout=20)
    assert await mobile.get_attribute("#threadline-webchat >> textarea", "placeholder") == "Escreva uma mensagem…"
    await mobile.screenshot(path=str(RESULTS / "widget-mobile.png"))
