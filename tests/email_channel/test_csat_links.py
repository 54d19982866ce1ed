"""CSAT by email links (issue #17): the question's mail carries five signed rating links (text and
HTML parts, over real SMTP); a customer opens one in headless Chromium, confirms with the
page's button, sees the thanks in their language, and the rating enters their conversation
through the inbox as the payload a tapped option sends; a prefetching scanner's GET rates
nothing; a forged, expired or reused link gets a page that says so, never a 500."""
from __future__ import annotations

import asyncio
import os
import re
import stat
import time
from email.message import EmailMessage
from typing import List

import aiohttp
import pytest
from rasa.core.channels.channel import register
from rasa.shared.core.events import BotUttered
from sanic import Sanic

from connectors.email.channel import EmailInput
from connectors.email.compose import Part, build_reply
from connectors.email.config import EmailSettings, ServerSettings
from connectors.email.csat_links import BadLink, CsatLinks, link_secret, sign, verify
from threadline.insights.csat import payload, question
from tests.email_channel.conftest import SHOP, ScriptedBot, plain_body
from tests.email_channel.test_mailgun import Agent, sanic_test_mode  # noqa: F401
from tests.support.browser import browser, playwright_ready  # noqa: F401
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for

SECRET = "test-csat-link-secret"
ANA = "ana@example.com"
_HREF = re.compile(r'href="([^"]+/csat/[^"]+)"')


def test_a_token_verifies_and_a_changed_one_is_forged():
    token = sign(SECRET, "cus_1", 42, int(time.time()) + 60)
    assert (verify(SECRET, token).customer_id, verify(SECRET, token).question_id) == ("cus_1", 42)
    body, _, mac = token.partition(".")
    other_body = sign(SECRET, "cus_2", 42, int(time.time()) + 60).partition(".")[0]
    for bad in (f"{other_body}.{mac}", f"{body}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
                sign("another secret", "cus_1", 42, int(time.time()) + 60)):
        with pytest.raises(BadLink) as refused:
            verify(SECRET, bad)
        assert refused.value.reason == "forged"
    with pytest.raises(BadLink) as refused:
        verify(SECRET, "no-dot-here")
    assert refused.value.reason == "malformed"


def test_a_token_expires_seven_days_after_the_question():
    asked = 1_700_000_000
    [link] = CsatLinks(SECRET, "https://shop.example/webhooks/email").for_question("cus_1", 7, [4], now=asked)
    token = link.split("/csat/")[1].split("?")[0]
    assert verify(SECRET, token, now=asked + 7 * 86400 - 1).question_id == 7
    with pytest.raises(BadLink) as refused:
        verify(SECRET, token, now=asked + 7 * 86400)
    assert refused.value.reason == "expired"


def test_the_secret_is_generated_once_into_var_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("CSAT_LINK_SECRET", raising=False)
    first = link_secret(tmp_path)
    assert len(first) >= 40 and link_secret(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / "csat_link_secret").st_mode) == 0o600
    monkeypatch.setenv("CSAT_LINK_SECRET", "from-env")
    assert link_secret(tmp_path) == "from-env"


def test_the_question_mail_has_a_link_per_option_in_both_parts():
    event = question("pt", "email", request_id=9)
    links = CsatLinks(SECRET, "https://shop.example/webhooks/email").for_question("cus_1", 9, [1, 2, 3, 4, 5])
    part = Part(text=event["text"], buttons=event["data"]["buttons"], language="pt", links=links)
    msg = build_reply(sender=SHOP, sender_name="Loja", to=ANA, to_name="Ana", parts=[part], parent=None)
    text = plain_body(msg)
    assert "4. Bom\n   " + links[3] in text
    assert "Clique na sua escolha ou responda com o número dela." in text
    page = msg.get_body(preferencelist=("html",)).get_content()
    assert _HREF.findall(page) == [link.replace("&", "&amp;") for link in links]
    assert ">Excelente</a>" in page


async def serve(smtp_port: int, bot: ScriptedBot):
    settings = EmailSettings(address=SHOP, imap=None, mailbox="INBOX",
                             smtp=ServerSettings("127.0.0.1", smtp_port, "", "", "none"))
    port = free_port()
    channel = EmailInput(settings, send_retry_delays_s=(0.2,),
                         csat_links=CsatLinks(SECRET, f"http://127.0.0.1:{port}/webhooks/email"))
    app = Sanic(f"csat_links_test_{port}")
    register([channel], app, route="/webhooks/")
    app.ctx.agent = Agent(bot)
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.after_start()
    app.ctx.consuming = asyncio.create_task(channel.consume(bot, lambda: True))
    await wait_for(lambda: channel.inbox is not None, timeout=10)
    return server, channel


@pytest.fixture
async def shop(smtp_server, email_env):
    controller, _ = smtp_server
    bot = ScriptedBot()
    server, channel = await serve(controller.port, bot)
    yield channel, bot
    await channel.stop_consuming()
    await asyncio.gather(server.app.ctx.consuming, return_exceptions=True)
    await server.before_stop()
    await server.close()


async def asked_by_email(channel: EmailInput, language: str, request_id: int, outbox: List[EmailMessage]):
    """The customer, and the question's mail as Rasa's HTTP API sends it (BotUttered through the
    channel's output with the event's metadata)."""
    customer_id = await channel.runtime.resolver.resolve("email", ANA, verified=True)
    asked = question(language, "email", request_id=request_id)
    message = BotUttered(asked["text"], asked["data"], asked["metadata"]).message()
    await channel.get_output_channel().send_response(customer_id, message)
    [mail] = await wait_for(lambda: list(outbox), timeout=10)
    return customer_id, mail


def links_of(mail: EmailMessage) -> List[str]:
    return [link.replace("&amp;", "&") for link in _HREF.findall(mail.get_body(preferencelist=("html",)).get_content())]


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return response.status, await response.text()


async def test_a_click_and_its_confirmation_rate_once_through_the_conversation(shop, outbox, browser):  # noqa: F811
    channel, bot = shop
    customer_id, mail = await asked_by_email(channel, "en", 501, outbox)
    links = links_of(mail)
    assert len(links) == 5 and all(link in plain_body(mail) for link in links)

    # A mail scanner fetches every link: pages, no rating.
    for link in links:
        status, page = await get(link)
        assert status == 200 and "Send my rating" in page
    assert not [m for m in bot.handled if m.sender_id == customer_id]

    tab = await browser.new_page()
    await tab.goto(links[3])
    assert "You chose: 4 - Good." in await tab.inner_text("main")
    await tab.click("button.send")
    await tab.wait_for_selector("p.thanks")
    assert await tab.inner_text("main") == "Thank you! Your rating is recorded."

    [rated] = await wait_for(lambda: [m for m in bot.handled if m.sender_id == customer_id], timeout=15)
    assert rated.text == payload(4) and rated.input_channel == "email"
    # Answered like any turn: the bot's reply to the rating goes out by mail to the customer.
    [thanks] = await wait_for(lambda: list(outbox)[1:], timeout=15)
    assert thanks["To"].addresses[0].addr_spec == ANA and payload(4) in plain_body(thanks)

    # The same link again (or another score of the same question): already used, nothing queued.
    await tab.goto(links[4])
    assert "already used" in await tab.inner_text("main")
    async with aiohttp.ClientSession() as session:
        async with session.post(links[4].split("?")[0], data={"score": "5"}) as response:
            assert response.status == 409 and "already used" in await response.text()
    assert len([m for m in bot.handled if m.sender_id == customer_id]) == 1


async def test_the_pages_speak_the_customers_language(shop, outbox, browser):  # noqa: F811
    channel, bot = shop
    customer_id = await channel.runtime.resolver.resolve("email", ANA, verified=True)
    # The conversation's `language` slot, as Rasa stores it after a Portuguese message.
    await channel.runtime.conversation_log.append(customer_id, [
        '{"event": "session_started"}', '{"event": "slot", "name": "language", "value": "pt"}'], session_starts=[0])
    _, mail = await asked_by_email(channel, "pt", 502, outbox)
    tab = await browser.new_page()
    await tab.goto(links_of(mail)[4])
    assert "Você escolheu: 5 - Excelente." in await tab.inner_text("main")
    await tab.click("button.send")
    await tab.wait_for_selector("p.thanks")
    assert await tab.inner_text("main") == "Obrigado! Sua nota foi registrada."
    assert await tab.get_attribute("html", "lang") == "pt-BR"


async def test_forged_and_expired_links_get_a_page_and_a_log_line(shop, caplog):
    channel, bot = shop
    base = channel.csat_links.base_url
    forged = sign("not our secret", "cus_x", 1, int(time.time()) + 3600)
    expired = sign(SECRET, "cus_x", 2, int(time.time()) - 1)
    status, page = await get(f"{base}/csat/{forged}?score=5")
    assert status == 403 and "This rating link is not valid." in page
    status, page = await get(f"{base}/csat/{expired}?score=5")
    assert status == 410 and "This rating link has expired." in page
    status, page = await get(f"{base}/csat/garbage?score=5")
    assert status == 403 and "not valid" in page
    async with aiohttp.ClientSession(headers={"Accept-Language": "pt-BR,pt;q=0.9"}) as session:
        async with session.post(f"{base}/csat/{forged}", data={"score": "5"}) as response:
            assert response.status == 403 and "Este link de avaliação não é válido." in await response.text()
    refused = [r.getMessage() for r in caplog.records if "csat link refused" in r.getMessage()]
    assert refused == ["email: csat link refused: forged", "email: csat link refused: expired",
                       "email: csat link refused: malformed", "email: csat link refused: forged"]
    assert not bot.handled
