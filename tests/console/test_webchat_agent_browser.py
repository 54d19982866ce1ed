"""Web chat with the trained assistant, end to end in headless Chromium: a customer who gave
their order number on WhatsApp signs in on the demo host page (token from its demo backend),
the bot answers about that order without asking, the customer asks for a person in the
widget, the agent sees one conversation in the console (the WhatsApp message beside the web
chat ones), takes it and replies; the reply appears in the open widget with the agent's name.
Everything real: `make run`'s processes (trained model, action server, inbox worker, CRM
timeline), the console process, the sandbox provider for WhatsApp."""
from __future__ import annotations

import json
import time

import pytest

from tests.console.conftest import customer_writes, sent_texts
from tests.support.browser import browser, playwright_ready  # noqa: F401  (fixtures)
from tests.support.processes import PROJECT, printed_console_url, project_process
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for
from threadline.handoff.store import open_handoffs

pytestmark = pytest.mark.slow(minutes=3)
WA_ID = "5511955557777"
AGENT, PASSWORD = "carla", "carla-console-password"
WIDGET = "#threadline-webchat"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from tests.support.assistant_stack import running_assistant_with_own_redis

    with running_assistant_with_own_redis(tmp_path_factory.mktemp("rasa")) as rasa:
        yield rasa


@pytest.fixture(scope="module")
def console_url(stack, tmp_path_factory):
    port = free_port()
    env = {**stack.env, "CONSOLE_PORT": str(port)}
    log = tmp_path_factory.mktemp("console") / "console.log"
    with project_process(["-m", "threadline.console"], f"http://127.0.0.1:{port}/health", env, log):
        yield printed_console_url(log)


async def widget_texts(page) -> list:
    return await page.eval_on_selector_all(f"{WIDGET} >> .msg .text", "els => els.map(e => e.textContent)")


async def test_agent_reply_from_the_console_reaches_the_signed_in_widget(browser, console_url, stack, stack_db, provider):
    from threadline.console.agents import AddAgent

    await customer_writes(stack, "whatsapp", WA_ID, "where is my order TL-70315?")
    on_whatsapp = await wait_for(lambda: sent_texts(provider, "whatsapp", WA_ID), timeout=60)
    assert "TL-70315" in on_whatsapp[0]

    site = await browser.new_page()
    site.set_default_timeout(60_000)
    await site.goto(f"{stack.base}/webhooks/webchat/demo")
    await site.click(f"{WIDGET} >> .launcher")
    await site.fill("#sub", "shop-user-9")
    await site.fill("#phone", "+" + WA_ID)
    await site.click("#login")
    await site.wait_for_selector(f'{WIDGET}[data-state="verified"]', state="attached")
    # The bot knows what the same customer said on WhatsApp: it does not ask for the order.
    await site.fill(f"{WIDGET} >> textarea", "hi, any news on my delivery?")
    await site.press(f"{WIDGET} >> textarea", "Enter")
    answer = await site.wait_for_selector(f"{WIDGET} >> .bot .text")
    assert "TL-70315" in await answer.inner_text()
    await site.fill(f"{WIDGET} >> textarea", "I want to talk to a person")
    await site.press(f"{WIDGET} >> textarea", "Enter")
    await wait_for(lambda: site.eval_on_selector_all(f"{WIDGET} >> .bot", "els => els.length >= 2"),
                   timeout=60)  # the bot says a person is coming
    [handoff] = await wait_for(lambda: open_handoffs(stack_db), timeout=60)
    assert handoff.channel == "webchat"

    AddAgent(stack_db)(AGENT, PASSWORD)
    console = await browser.new_page()
    console.set_default_timeout(60_000)
    await console.goto(console_url + "/")
    await console.fill("input[name=name]", AGENT)
    await console.fill("input[name=password]", PASSWORD)
    await console.click("button[type=submit]")
    await console.click("tr[data-handoff] a")  # a locator: the live queue may redraw the row
    # One conversation: what the customer wrote on WhatsApp is beside the web chat message.
    await console.wait_for_selector("#timeline li.customer:has-text('where is my order TL-70315?')")
    await console.wait_for_selector("#timeline li.customer:has-text('I want to talk to a person')")

    await console.click("text=Take this conversation")
    await console.fill("form.reply textarea", "Hi, this is Carla from the shop.")
    assert await console.input_value("form.reply select") == "webchat"
    clicked = time.monotonic()
    await console.click("form.reply button[type=submit]")
    await site.wait_for_selector(f"{WIDGET} >> .agent:has-text('Hi, this is Carla from the shop.')")
    reply_s = time.monotonic() - clicked
    assert "carla (agent)" in (await site.inner_text(f"{WIDGET} >> .agent .who")).lower()
    assert (await widget_texts(site)).count("Hi, this is Carla from the shop.") == 1
    figures = PROJECT / "results" / "webchat" / "agent_reply.json"
    figures.write_text(json.dumps({"agent_send_to_widget_s": round(reply_s, 3),
                                   "what": "console Send click to the reply shown in the widget (trained assistant, "
                                           "headless Chromium, one run)"}, indent=2) + "\n")
    print(f"\nwebchat: agent Send -> widget {reply_s:.2f}s")
