"""Continue, don't restart (issue #15), across every ordered pair of WhatsApp, Instagram, SMS
and email: a customer asks about an order on channel A, then picks up on channel B with "any
update?" (or "and?", "still nothing", "e aí?", …) and is answered about that order, its case
and the promised day, in their language, never with a fresh greeting.

One stack for the 12 pairs, as `make run` starts it: the real Rasa server with the trained
model behind the real connectors, the inbox worker, the action server, a private Redis and a
SQLite CRM (bench/rasa_stack.py); the sandbox plays Meta and Twilio, email is a real Dovecot
(IMAP) and a real SMTP server. Each pair is a customer of its own. Channel B's address is
linked to the customer A created by an operator (`bin/threadline link`'s LinkIdentities);
WhatsApp and SMS share the phone number, so they are one customer by themselves.

Slow (~4-6 min on a shared machine: three processes load the project). Needs
models/threadline.tar.gz (`make train`).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date
from email.utils import make_msgid
from typing import List, Tuple

import pytest

from actions.crm_context import add_business_days
from bench.rasa_stack import RasaStack
from tests.channels.conftest import post
from tests.email_channel.conftest import MX, SHOP, dovecot, mail, plain_body, smtp_server  # noqa: F401
from tests.support.outbound import customer_of_our_message
from tests.support.redis_server import RedisServer
from tests.support.sandbox import serve_sandbox
from tests.support.waiting import wait_for
from threadline.crm import Database
from threadline.i18n import texts_for
from threadline.identity.index import IdentityIndex
from threadline.identity.link import LinkIdentities
from threadline.sandbox import payloads as p
from threadline.training import model_path

pytestmark = pytest.mark.slow(minutes=6)

CHANNELS = ("whatsapp", "instagram", "sms", "email")
PAIRS = [(a, b) for a in CHANNELS for b in CHANNELS if a != b]
CASE_NUMBER = re.compile(r"#(\d+)")
GREETINGS = ("Hi", "Hey", "Hello, and thank you", "Oi", "Olá, e obrigado")
REPLY_S = 120


@dataclass(frozen=True)
class Scenario:
    """What the customer asks on A, the follow-up on B, and what the follow-up must name."""
    language: str
    first: str
    follow_up: str
    order: str
    business_days: int  # the promise: a late order's update in 1, a refund's confirmation in 2


LATE_EN = ("where is my order TL-48213? it should have arrived already", "TL-48213", 1)
LATE_PT = ("cade meu pedido TL-48213? ja era pra ter chegado", "TL-48213", 1)
REFUND_EN = ("I want a refund for order TL-50927 please", "TL-50927", 2)
REFUND_PT = ("quero o reembolso do pedido TL-50927", "TL-50927", 2)


def scenario(language: str, asked: Tuple[str, str, int], follow_up: str) -> Scenario:
    first, order, days = asked
    return Scenario(language, first, follow_up, order, days)


# Each pair gets one of the follow-ups the issue names, in both languages.
SCENARIOS = {
    ("whatsapp", "instagram"): scenario("en", LATE_EN, "hello again, any update?"),
    ("whatsapp", "sms"): scenario("en", LATE_EN, "hello again, any update?"),
    ("whatsapp", "email"): scenario("en", REFUND_EN, "Hello, any update?"),
    ("instagram", "whatsapp"): scenario("pt", REFUND_PT, "alguma novidade?"),
    ("instagram", "sms"): scenario("en", LATE_EN, "any update?"),
    ("instagram", "email"): scenario("pt", LATE_PT, "nada ainda?"),
    ("sms", "whatsapp"): scenario("pt", LATE_PT, "e aí?"),
    ("sms", "instagram"): scenario("en", REFUND_EN, "and?"),
    ("sms", "email"): scenario("en", LATE_EN, "still nothing"),
    ("email", "whatsapp"): scenario("en", LATE_EN, "so?"),
    ("email", "instagram"): scenario("en", REFUND_EN, "any update?"),
    ("email", "sms"): scenario("pt", LATE_PT, "e entao?"),
}


@dataclass(frozen=True)
class Customer:
    """One pair's customer: a phone (WhatsApp and SMS), an Instagram id and an email address."""
    number: int

    @property
    def wa_id(self) -> str:
        return f"55119876510{self.number:02d}"

    @property
    def phone(self) -> str:
        return f"+{self.wa_id}"

    @property
    def igsid(self) -> str:
        return f"178414059900{self.number:04d}"

    @property
    def email(self) -> str:
        return f"cliente.{self.number}@example.com"

    def address(self, channel: str) -> str:
        return {"whatsapp": self.wa_id, "instagram": self.igsid, "sms": self.phone, "email": self.email}[channel]


@pytest.fixture(scope="module")
def mailbox(dovecot) -> str:  # noqa: F811
    name = f"F{time.monotonic_ns()}"
    client = dovecot.client()
    client.create(name)
    client.logout()
    return name


@pytest.fixture(scope="module")
def stack(dovecot, smtp_server, mailbox, tmp_path_factory):  # noqa: F811
    if not model_path().is_file():
        pytest.skip("no trained model: run `make train` first (make test does)")
    redis = RedisServer()  # its own: other files flush the session's
    controller, _ = smtp_server
    rasa = RasaStack(redis.url, tmp_path_factory.mktemp("followup"), with_sandbox_process=False)
    rasa.env.update(
        EMAIL_ADDRESS=SHOP, EMAIL_IMAP_HOST="127.0.0.1", EMAIL_IMAP_PORT=str(dovecot.imap_port),
        EMAIL_IMAP_USER=dovecot.user, EMAIL_IMAP_PASSWORD=dovecot.password, EMAIL_IMAP_MAILBOX=mailbox,
        EMAIL_IMAP_SECURITY="none", EMAIL_SMTP_HOST="127.0.0.1", EMAIL_SMTP_PORT=str(controller.port),
        EMAIL_SMTP_SECURITY="none", EMAIL_AUTHSERV_ID=MX,
    )
    try:
        rasa.start(timeout_s=420)
        yield rasa
    finally:
        rasa.stop()
        redis.stop()


@pytest.fixture
async def provider(stack):
    async with serve_sandbox(stack.env, stack.sandbox_port) as sandbox:
        yield sandbox


class Channels:
    """Writes as one customer on any channel, and reads what the shop sent them there."""

    def __init__(self, stack: RasaStack, provider, dovecot, mailbox: str, outbox: list) -> None:  # noqa: F811
        self.stack, self.provider, self.dovecot, self.mailbox, self.outbox = stack, provider, dovecot, mailbox, outbox

    async def write(self, customer: Customer, channel: str, text: str) -> None:
        env, base = self.stack.env, self.stack.base
        if channel == "whatsapp":
            envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], [
                p.whatsapp_message("text", customer.wa_id, {"body": text})],
                contacts=[p.whatsapp_contact(customer.wa_id, "Ana Souza")])
            status = await post(f"{base}/webhooks/whatsapp/webhook", p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope))
        elif channel == "instagram":
            account = env["INSTAGRAM_ACCOUNT_ID"]
            item = p.instagram_item(customer.igsid, account, message={"mid": p.new_ig_mid(), "text": text})
            status = await post(f"{base}/webhooks/instagram/webhook",
                                p.meta_delivery(env["INSTAGRAM_APP_SECRET"], p.instagram_envelope(account, [item])))
        elif channel == "sms":
            params = p.twilio_inbound(env["TWILIO_ACCOUNT_SID"], customer.phone, env["TWILIO_FROM_NUMBER"], text)
            status = await post(f"{base}/webhooks/sms/webhook",
                                p.twilio_delivery(env["TWILIO_AUTH_TOKEN"], env["TWILIO_WEBHOOK_URL"], params))
        else:
            self.dovecot.deliver(bytes(mail(f"Ana Souza <{customer.email}>", "My order", text,
                                            message_id=make_msgid(domain="example.com"))), self.mailbox)
            return
        assert status == 200

    def sent(self, customer: Customer, channel: str) -> List[Tuple[str, str]]:
        """(provider id, text) of every message the shop sent this customer on `channel`."""
        if channel == "email":
            return [(m["Message-ID"], plain_body(m)) for m in self.outbox
                    if m["X-Envelope-To"] == customer.email]
        return [(m["id"], m.get("text") or "") for m in self.provider.conversations[(channel, customer.address(channel))]
                if m["direction"] == "out"]

    async def answer(self, customer: Customer, channel: str, text: str) -> Tuple[str, str]:
        """The customer writes; the first message the shop sends back on that channel."""
        before = len(self.sent(customer, channel))
        await self.write(customer, channel, text)
        replies = await wait_for(lambda: self.sent(customer, channel)[before:], timeout=REPLY_S)
        return replies[0]

    async def customer_of(self, channel: str, provider_id: str) -> str:
        return await wait_for(lambda: customer_of_our_message(self.stack.env["REDIS_URL"], channel, provider_id),
                              timeout=10)


def bot_words(channel: str, text: str) -> str:
    """The bot's own words: an email's greeting ("Hello Ana,") and sign-off are the channel's."""
    if channel != "email":
        return text
    return text.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]


@pytest.mark.parametrize("first_channel, second_channel", PAIRS, ids=[f"{a}-then-{b}" for a, b in PAIRS])
async def test_a_follow_up_on_another_channel_is_answered_about_the_open_order(
        stack, provider, dovecot, mailbox, smtp_server, first_channel, second_channel):  # noqa: F811
    said = SCENARIOS[(first_channel, second_channel)]
    customer = Customer(PAIRS.index((first_channel, second_channel)) + 1)
    channels = Channels(stack, provider, dovecot, mailbox, smtp_server[1].messages)

    asked_id, asked = await channels.answer(customer, first_channel, said.first)
    opened = CASE_NUMBER.search(asked)
    assert opened and said.order in asked, asked  # the journey on A opened a case about the order
    case = opened.group(1)
    customer_id = await channels.customer_of(first_channel, asked_id)
    if {first_channel, second_channel} != {"whatsapp", "sms"}:  # one phone number: one customer already
        database = Database(stack.env["CRM_DATABASE_URL"])
        index = IdentityIndex.from_url(stack.env["REDIS_URL"])
        try:
            await LinkIdentities(database, index)(customer_id, second_channel, customer.address(second_channel),
                                                  actor="test-operator", reason="same person, checked by phone")
        finally:
            await index.client.close()
            database.dispose()

    sent_on_first = len(channels.sent(customer, first_channel))
    answer_id, answer = await channels.answer(customer, second_channel, said.follow_up)
    words = bot_words(second_channel, answer)
    due = texts_for(said.language).date(add_business_days(date.today(), said.business_days))
    assert not words.startswith(GREETINGS), words  # no fresh greeting
    assert said.order in words and f"#{case} " in words and due in words, words
    assert ("chamado" in words) == (said.language == "pt"), words  # in the customer's language
    assert await channels.customer_of(second_channel, answer_id) == customer_id  # one conversation
    assert len(channels.sent(customer, first_channel)) == sent_on_first  # answered where they wrote


@pytest.mark.parametrize("channel, follow_up, question", [
    ("sms", "hello again, any update?", "I see nothing open for you. What is it about? An order number will do."),
    ("whatsapp", "oi de novo, alguma novidade?", "Não encontrei nenhum pedido ou solicitação sua em aberto. É sobre o "
                                                 "quê? O número do pedido ou poucas palavras já bastam."),
], ids=["sms-en", "whatsapp-pt"])
async def test_a_follow_up_with_nothing_open_gets_one_short_question_not_a_greeting(
        stack, provider, dovecot, mailbox, smtp_server, channel, follow_up, question):  # noqa: F811
    customer = Customer(len(PAIRS) + 1 + (channel == "whatsapp"))
    channels = Channels(stack, provider, dovecot, mailbox, smtp_server[1].messages)
    _, answer = await channels.answer(customer, channel, follow_up)
    assert answer == question
