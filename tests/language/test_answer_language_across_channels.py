"""One customer, two channels, two languages (issue #16): each answer in the language of the
message it answers, on the path `make run` uses.

The real Rasa server (threadline.rasa_server with credentials.yml, endpoints.yml and the trained
model), the inbox worker that runs the bot turns, the action server, a private Redis and a
SQLite CRM (bench/rasa_stack.py, as test_rasa_end_to_end starts them); the sandbox plays Meta
for WhatsApp, and email is a real Dovecot (IMAP) and a real SMTP server.

Ana writes Portuguese on WhatsApp and gives her email; the product sends the one-time code
there (in Portuguese: she asked in Portuguese) and she types it on WhatsApp, so the address is
a verified identity of her record. Her English mail is then the same customer's, answered in
English, and her next WhatsApp message, in Portuguese, is answered in Portuguese again.

Slow (~2-4 min on a shared machine: three processes load the project). Needs
models/threadline.tar.gz (`make train`).
"""
from __future__ import annotations

import re
from email.utils import make_msgid

import pytest

from bench.rasa_stack import RasaStack
from tests.channels.conftest import post
from tests.channels.helpers import sent
from tests.email_channel.conftest import (  # noqa: F401  (fixtures, found by name)
    MX, SHOP, dovecot, mail, mailbox, outbox, plain_body, smtp_server,
)
from tests.support.outbound import customer_of_our_message
from tests.support.sandbox import serve_sandbox
from tests.support.waiting import wait_for
from threadline.sandbox import payloads as p
from threadline.training import model_path

pytestmark = pytest.mark.slow

WA_ID = "5511987650042"
EMAIL = "ana.souza@example.com"
CODE = re.compile(r"Seu código de verificação da Threadline é (\d{6})\.")


@pytest.fixture
def stack(redis_server, dovecot, smtp_server, mailbox, tmp_path):
    if not model_path().is_file():
        pytest.skip("no trained model: run `make train` first (make test does)")
    redis_server.flush()
    controller, _ = smtp_server
    rasa = RasaStack(redis_server.url, tmp_path, with_sandbox_process=False)
    # Email configured, against Dovecot and the SMTP server; WhatsApp, Instagram, SMS: sandbox.
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


@pytest.fixture
async def whatsapp(stack):
    async with serve_sandbox(stack.env, stack.sandbox_port) as provider:
        yield provider


async def say_on_whatsapp(stack, provider, text: str) -> str:
    """Ana writes on WhatsApp; the text of the one reply the provider gets for it."""
    before = len(sent(provider, "whatsapp", WA_ID))
    envelope = p.whatsapp_envelope(stack.env["WHATSAPP_PHONE_NUMBER_ID"], [p.whatsapp_message("text", WA_ID, {"body": text})],
                                   contacts=[p.whatsapp_contact(WA_ID, "Ana Souza")])
    assert await post(f"{stack.base}/webhooks/whatsapp/webhook",
                      p.meta_delivery(stack.env["WHATSAPP_APP_SECRET"], envelope)) == 200
    replies = await wait_for(lambda: sent(provider, "whatsapp", WA_ID)[before:], timeout=120)
    assert len(replies) == 1, replies
    return replies[0]["body"]["text"]["body"]


async def customer_of(stack, channel: str, provider_id: str) -> str:
    """The customer a message we sent was for, once its send record is written."""
    return await wait_for(lambda: customer_of_our_message(stack.env["REDIS_URL"], channel, provider_id),
                          timeout=10)


async def test_portuguese_on_whatsapp_and_english_by_email_each_answered_in_its_language(
        stack, whatsapp, dovecot, mailbox, outbox):
    asked = await say_on_whatsapp(stack, whatsapp, "oi, tudo bem? meu email é ana.souza@example.com")
    assert asked == ("Para vincular a•••@example.com a esta conversa, enviei um código de 6 dígitos para lá. "
                     "Digite o código aqui em até 10 minutos.")
    [code_mail] = await wait_for(lambda: outbox, timeout=60)
    assert code_mail["X-Envelope-To"] == EMAIL
    assert code_mail["Subject"] == "Re: Seu código de verificação da Threadline"
    body = plain_body(code_mail)
    assert body.startswith("Olá,\n") and body.rstrip().endswith("Atenciosamente,\nEquipe de atendimento")
    code = CODE.search(body).group(1)

    confirmed = await say_on_whatsapp(stack, whatsapp, code)
    assert confirmed == "Obrigado, está confirmado: agora está vinculado a esta conversa."

    delivery_pt = await say_on_whatsapp(stack, whatsapp, "e quanto tempo demora pra entregar aqui em sp?")
    assert delivery_pt.startswith("*Prazos de entrega* 🚚\nPadrão: 3 a 7 dias úteis")  # pt-BR, WhatsApp variant
    [whatsapp_customer] = {await customer_of(stack, "whatsapp", m["id"]) for m in sent(whatsapp, "whatsapp", WA_ID)}

    outbox.clear()
    dovecot.deliver(bytes(mail(f"Ana Souza <{EMAIL}>", "Delivery times",
                               "Hello, how many business days does delivery usually take? Thanks, Ana",
                               message_id=make_msgid(domain="example.com"))), mailbox)
    [answer] = await wait_for(lambda: outbox, timeout=120)
    assert answer["X-Envelope-To"] == EMAIL
    assert plain_body(answer) == (
        "Hello Ana,\n\n"
        "Standard delivery takes 3 to 7 business days after dispatch, express 1 to 2. Orders paid before "
        "2 pm leave the same day.\n\n"
        "Best regards,\nThe support team\n")
    assert await customer_of(stack, "email", answer["Message-ID"]) == whatsapp_customer  # one customer

    payment_pt = await say_on_whatsapp(stack, whatsapp, "blz, e vcs aceitam pix?")
    assert payment_pt.startswith("Aceitamos cartão de crédito e débito")
    assert {await customer_of(stack, "whatsapp", m["id"]) for m in sent(whatsapp, "whatsapp", WA_ID)} == {
        whatsapp_customer}
