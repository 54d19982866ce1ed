"""Fixtures for the email tests: a real Dovecot (IMAP), a real SMTP server (aiosmtpd, in this
process), the real identity resolver on SQLite + the private Redis, and a scripted bot that
answers through the message's output channel like Rasa's processor does."""
from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, List, Optional

import pytest
from rasa.core.channels.channel import UserMessage

from connectors.email.channel import EmailInput
from connectors.email.config import EmailSettings, ServerSettings
from tests.support.dovecot import DovecotServer
from tests.support.smtp_outbox import smtp_outbox

SHOP = "shop@example.com"
# The shop's receiving server (EMAIL_AUTHSERV_ID): its Authentication-Results are believed.
MX = "mx.shop.example"


@pytest.fixture(scope="session")
def dovecot():
    server = DovecotServer()  # installs dovecot-imapd first when missing and allowed
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smtp_server():
    with smtp_outbox() as server:
        yield server


@pytest.fixture
def outbox(smtp_server) -> List[EmailMessage]:
    _, collector = smtp_server
    collector.messages.clear()
    return collector.messages


@pytest.fixture
def mailbox(dovecot) -> str:
    """A fresh IMAP folder per test (a new folder has its own UIDVALIDITY and UIDs)."""
    name = f"T{time.monotonic_ns()}"
    client = dovecot.client()
    client.create(name)
    client.logout()
    return name


@pytest.fixture
def email_env(monkeypatch, redis_url, tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    for name in ("EMAIL_ADDRESS", "EMAIL_IMAP_HOST", "EMAIL_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    return redis_url


def settings_for(dovecot: DovecotServer, smtp_port: int, mailbox: str, security: str = "none") -> EmailSettings:
    port = dovecot.imaps_port if security == "ssl" else dovecot.imap_port
    return EmailSettings(
        address=SHOP,
        imap=ServerSettings("127.0.0.1", port, dovecot.user, dovecot.password, security),
        mailbox=mailbox,
        smtp=ServerSettings("127.0.0.1", smtp_port, "", "", "none"),
        authserv_ids=frozenset({MX}),
    )


def trusting(dovecot: DovecotServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(dovecot.cert))


@dataclass
class ScriptedBot:
    """Stands in for Rasa's agent: records each UserMessage and answers on its output channel."""
    handled: List[UserMessage] = field(default_factory=list)

    async def __call__(self, message: UserMessage) -> None:
        self.handled.append(message)
        out, who, text = message.output_channel, message.sender_id, message.text or ""
        if text.startswith("menu"):
            await out.send_text_with_buttons(who, "How would you like to pay?", [
                {"title": "Pix", "payload": "/choose_payment{\"method\":\"pix\"}"},
                {"title": "Boleto", "payload": "/choose_payment{\"method\":\"boleto\"}"}])
        else:
            await out.send_text_message(who, f"You said: {text}")


@dataclass
class Harness:
    dovecot: DovecotServer
    smtp_port: int
    mailbox: str
    bot: ScriptedBot
    outbox: List[EmailMessage]
    channel: Optional[EmailInput] = None
    consuming: Optional[asyncio.Task] = None

    async def start(self, *, consume: bool = True, **options: Any) -> EmailInput:
        """The channel's server side (reader, inbox) and, unless `consume=False`, its inbox
        consumer on the same loop, as the inbox worker process runs it."""
        options.setdefault("idle_s", 2)
        options.setdefault("send_retry_delays_s", (0.2,))
        return await self.run(EmailInput(settings_for(self.dovecot, self.smtp_port, self.mailbox), **options),
                              consume=consume)

    async def run(self, channel: EmailInput, *, consume: bool = True) -> EmailInput:
        self.channel = channel
        await channel.start(self.bot, lambda: True)
        if consume:
            self.consuming = asyncio.create_task(channel.consume(self.bot, lambda: True))
        await asyncio.wait_for(channel.reader.connected.wait(), 15)
        return channel

    async def stop(self) -> None:
        if self.consuming:
            await self.channel.stop_consuming()
            await asyncio.gather(self.consuming, return_exceptions=True)
            self.consuming = None
        if self.channel:
            await self.channel.stop()
            self.channel = None

    def deliver(self, msg: EmailMessage) -> None:
        self.dovecot.deliver(bytes(msg), self.mailbox)


@pytest.fixture
async def harness(dovecot, smtp_server, mailbox, outbox, email_env):
    controller, _ = smtp_server
    h = Harness(dovecot, controller.port, mailbox, ScriptedBot(), outbox)
    yield h
    await h.stop()



def authentication_results(sender: str) -> str:
    """What the shop's receiving server adds to mail that passed DMARC for its From domain."""
    domain = getaddresses([sender])[0][1].rpartition("@")[2].lower()
    return f"{MX}; spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"


def mail(sender: str, subject: str, body: str, *, message_id: Optional[str] = None,
         in_reply_to: Optional[str] = None, references: Optional[str] = None,
         authenticated: bool = True, **headers: str) -> EmailMessage:
    """A mail as it lands in the mailbox; `authenticated`: the receiving server vouched for From."""
    msg = EmailMessage()
    if authenticated:
        msg["Authentication-Results"] = authentication_results(sender)
    msg["From"] = sender
    msg["To"] = SHOP
    msg["Subject"] = subject
    msg["Date"] = "Mon, 08 Jan 2024 11:00:00 -0300"
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def plain_body(msg: EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def metadata(message: UserMessage) -> dict:
    return json.loads(json.dumps(message.metadata))
