"""End to end in headless Chromium (Debian's package, driven by Playwright): an agent logs in,
sees a new escalation appear live, reads its summary, replies, the reply reaches the sandbox
provider of the customer's channel, the agent hands back and the bot answers again.

Everything is real: the customer writes through the sandbox's signed webhooks to the Rasa
server (trained model, action server), the CRM timeline consumer runs, and the console is the
`python -m threadline.console` process. scripts/install-browser.sh installs chromium and
playwright when they are missing.
"""
from __future__ import annotations

import time

import pytest

from tests.console.conftest import customer_writes, sent_texts
from tests.support.browser import playwright_ready  # noqa: F401  (fixture)
from tests.support.processes import printed_console_url, project_process
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for
from threadline.handoff.store import get_handoff, open_handoffs

pytestmark = pytest.mark.slow
WA_ID = "5511955554444"
AGENT, PASSWORD = "carla", "carla-console-password"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The assistant of this file alone (not the session's): the agent's queue starts empty."""
    from tests.support.assistant_stack import running_assistant_with_own_redis

    with running_assistant_with_own_redis(tmp_path_factory.mktemp("rasa")) as rasa:
        yield rasa


@pytest.fixture(scope="module")
def console_url(stack, tmp_path_factory):
    port = free_port()
    env = {**stack.env, "CONSOLE_PORT": str(port)}
    log = tmp_path_factory.mktemp("console") / "console.log"
    with project_process(["-m", "threadline.console"], f"http://127.0.0.1:{port}/health", env, log):
        yield printed_console_url(log)  # opened as printed, with no browser flag


@pytest.fixture
async def page(playwright_ready, console_url):
    async with playwright_ready() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = await browser.new_page()
        page.set_default_timeout(60_000)
        yield page
        await browser.close()


async def test_an_agent_takes_an_escalation_live_replies_and_hands_back(page, console_url, stack, stack_db, provider):
    from threadline.console.agents import AddAgent

    AddAgent(stack_db)(AGENT, PASSWORD)
    await page.goto(console_url + "/")
    assert page.url.startswith(console_url + "/login")
    await page.fill("input[name=name]", AGENT)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("tr.empty")  # the queue, empty for now
    await page.evaluate("window.notReloaded = true")

    await customer_writes(stack, "whatsapp", WA_ID, "hi there")
    await wait_for(lambda: sent_texts(provider, "whatsapp", WA_ID), timeout=60)
    asked = time.monotonic()
    await customer_writes(stack, "whatsapp", WA_ID, "I want to talk to a person")
    row = await page.wait_for_selector("tr[data-handoff]")
    queue_latency = time.monotonic() - asked
    assert await page.evaluate("window.notReloaded === true")  # it came in live, not by a reload
    [handoff] = await open_handoffs(stack_db)
    assert handoff.reason == "requested" and handoff.channel == "whatsapp"
    told = await wait_for(lambda: sent_texts(provider, "whatsapp", WA_ID)[1:], timeout=30)
    assert len(told) == 1  # the customer was told a person is coming, and nothing more

    await (await row.query_selector("a")).click()
    paragraph = await page.inner_text("#summary-paragraph")
    assert paragraph.strip() == handoff.summary["paragraph"].strip() and paragraph.strip()
    await page.wait_for_selector("#timeline li.customer:has-text('I want to talk to a person')")

    await page.evaluate("window.notReloaded = true")
    written = time.monotonic()
    await customer_writes(stack, "whatsapp", WA_ID, "is anyone there?")
    await page.wait_for_selector("#timeline li.customer:has-text('is anyone there?')")
    message_latency = time.monotonic() - written
    assert await page.evaluate("window.notReloaded === true")
    assert len(sent_texts(provider, "whatsapp", WA_ID)) == 2  # the bot stays silent while paused

    await page.click("text=Take this conversation")
    await page.fill("form.reply textarea", "Hi, this is Carla. I'm looking at your order now.")
    assert await page.input_value("form.reply select") == "whatsapp"
    clicked = time.monotonic()
    await page.click("form.reply button[type=submit]")
    await page.wait_for_selector("text=Reply sent on WhatsApp")
    reply = await wait_for(lambda: sent_texts(provider, "whatsapp", WA_ID)[2:], timeout=20)
    reply_latency = time.monotonic() - clicked
    assert reply == ["Hi, this is Carla. I'm looking at your order now."]
    await page.wait_for_selector("#timeline li.agent:has-text('looking at your order now')")

    await page.click("text=Hand back to the bot")
    await page.wait_for_selector("tr.empty")
    assert (await get_handoff(stack_db, handoff.id)).resolution == "handed_back"
    # the hand-back asks the CSAT question once, on the channel the customer used
    [question] = await wait_for(lambda: sent_texts(provider, "whatsapp", WA_ID)[3:], timeout=30)
    assert "rate the help" in question.lower()
    await customer_writes(stack, "whatsapp", WA_ID, "are you a bot?")
    [answer] = await wait_for(lambda: sent_texts(provider, "whatsapp", WA_ID)[4:], timeout=30)
    assert "bot" in answer.lower()
    print(f"\nconsole figures: escalation to queue row {queue_latency:.2f}s, customer message to open "
          f"conversation {message_latency:.2f}s, reply click to provider {reply_latency:.2f}s")
