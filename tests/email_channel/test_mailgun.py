"""Mailgun inbound route: real HTTP to the channel's Sanic blueprint (registered as Rasa does),
signature checked, the raw mail through the same pipeline, the reply over real SMTP."""
from __future__ import annotations

import asyncio
import secrets
import time
from email.utils import make_msgid

import aiohttp
import pytest
from rasa.core.channels.channel import register
from sanic import Sanic

from connectors.email.channel import EmailInput
from connectors.email.config import EmailSettings, ServerSettings
from connectors.email.mailgun import mailgun_signature
from tests.email_channel.conftest import SHOP, ScriptedBot, mail
from tests.support.waiting import wait_for
from tests.support.redis_server import free_port

KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


class Agent:
    def __init__(self, bot: ScriptedBot) -> None:
        self.handle_message = bot

    def is_ready(self) -> bool:
        return True


async def serve(smtp_port: int, key: str, bot: ScriptedBot):
    settings = EmailSettings(address=SHOP, imap=None, mailbox="INBOX", mailgun_signing_key=key,
                             smtp=ServerSettings("127.0.0.1", smtp_port, "", "", "none"))
    channel = EmailInput(settings, send_retry_delays_s=(0.2,))
    app = Sanic(f"mailgun_test_{free_port()}")
    register([channel], app, route="/webhooks/")
    app.ctx.agent = Agent(bot)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.after_start()
    # The inbox worker's side, on this loop: the server itself only stores the mail.
    app.ctx.consuming = asyncio.create_task(channel.consume(bot, lambda: True))
    app.ctx.channel = channel
    return server, f"http://127.0.0.1:{port}/webhooks/email/mailgun/mime"


async def shut(server) -> None:
    await server.app.ctx.channel.stop_consuming()
    await asyncio.gather(server.app.ctx.consuming, return_exceptions=True)
    await server.before_stop()
    await server.close()


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch):
    # Sanic 21.12 rewrites its HTTP methods at startup ("touch-up"); in test mode it keeps the
    # originals, so that several apps can start in one process.
    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture
async def mailgun(smtp_server, email_env):
    controller, _ = smtp_server
    bot = ScriptedBot()
    server, url = await serve(controller.port, KEY, bot)
    yield url, bot
    await shut(server)


def signed(raw: bytes, key: str = KEY, *, at: float | None = None, **extra: str) -> dict:
    """A POST as Mailgun signs it: now (or `at`), with a fresh 50-character token."""
    form = {"timestamp": str(int(time.time() if at is None else at)), "token": secrets.token_hex(25),
            "recipient": SHOP, "sender": "ana@example.com", "body-mime": raw.decode()}
    form["signature"] = mailgun_signature(key, form["timestamp"], form["token"])
    form.update(extra)
    return form


async def post(url: str, form: dict) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=aiohttp.FormData(form)) as response:
            await response.read()
            return response.status


async def test_signed_route_post_is_answered_in_thread_once(mailgun, outbox):
    url, bot = mailgun
    first_id = make_msgid(domain="example.com")
    raw = bytes(mail("Ana <ana@example.com>", "Entrega", "Qual o prazo para Recife?\n\nEnviado do meu iPhone",
                     message_id=first_id))
    assert await post(url, signed(raw)) == 200
    assert await post(url, signed(raw)) == 200  # Mailgun retries (signed anew): answered once
    reply = (await wait_for(lambda: outbox))[0]
    assert reply["In-Reply-To"] == first_id and reply["Subject"] == "Re: Entrega"
    assert [m.text for m in bot.handled] == ["Qual o prazo para Recife?"]


async def test_bad_signature_and_unusable_posts_are_refused(mailgun, outbox):
    url, bot = mailgun
    raw = bytes(mail("Ana <ana@example.com>", "x", "forged", message_id=make_msgid()))
    assert await post(url, signed(raw, key="not-the-key")) == 403
    assert await post(url, {k: v for k, v in signed(raw).items() if k != "signature"}) == 403
    assert await post(url, signed(raw, **{"body-mime": ""})) == 406  # 406 stops Mailgun's retries
    assert bot.handled == [] and outbox == []


async def test_webhook_is_closed_without_a_signing_key(smtp_server, email_env):
    controller, _ = smtp_server
    server, url = await serve(controller.port, "", ScriptedBot())
    try:
        raw = bytes(mail("Ana <ana@example.com>", "x", "y", message_id=make_msgid()))
        assert await post(url, signed(raw)) == 404
    finally:
        await shut(server)
