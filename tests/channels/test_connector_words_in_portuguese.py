"""The words the connectors add to a bot message (numbered options' hint, WhatsApp's list
button, an email's greeting and sign-off) in the language of the message (issue #16).

Real output channels against the sandbox provider and Redis; a message says its language as
Rasa hands a pt-BR response variant to the output channel: with the variant's `condition`.
"""
from __future__ import annotations

import time

import pytest

from connectors.email.compose import Part, Style, build_reply
from connectors.sms import SmsInput
from connectors.webhook.runtime import ChannelRuntime, default_resolver_factory
from connectors.webhook.text import sms_segments
from connectors.whatsapp import WhatsAppInput
from tests.channels.helpers import sent

WA_ID, PHONE = "5511987654321", "+5511987654321"
PT = {"condition": [{"type": "slot", "name": "language", "value": "pt"}]}  # a pt-BR variant's key
TWO = [{"title": "Cadastro", "payload": "/account_help"}, {"title": "Entrega", "payload": "/delivery_time"}]
FOUR = [{"title": f"Opcao {n}", "payload": f"/choose{n}"} for n in range(1, 5)]
TWELVE = [{"title": f"Opcao {n}", "payload": f"/choose{n}"} for n in range(1, 13)]


@pytest.fixture
async def channels(channel_env, sandbox, monkeypatch):
    for name, value in channel_env.items():
        monkeypatch.setenv(name, value)
    made = {"whatsapp": WhatsAppInput.from_credentials(None), "sms": SmsInput.from_credentials(None)}
    for channel in made.values():
        channel.runtime = ChannelRuntime.open(default_resolver_factory)
    yield made
    for channel in made.values():
        await channel.runtime.close()


async def customer(channel, address: str, last_inbound_age_s: float) -> str:
    customer_id = await channel.runtime.resolver.resolve(channel.name(), address)
    await channel.runtime.records.inbound_seen(channel.name(), address, time.time() - last_inbound_age_s)
    return customer_id


async def test_sms_numbered_options_end_with_the_hint_in_the_messages_language_in_gsm7(channels, sandbox):
    sms = channels["sms"]
    customer_id = await customer(sms, PHONE, 60)
    await sms.output_channel(PHONE).send_text_with_buttons(customer_id, "E sobre qual destes?", TWO, **PT)
    await sms.output_channel(PHONE).send_text_with_buttons(customer_id, "Which of these is it about?", TWO)
    portuguese, english = [m["body"]["Body"] for m in sent(sandbox, "sms", PHONE)]
    assert portuguese == "E sobre qual destes?\n\n1. Cadastro\n2. Entrega\n\nResponda com um numero."
    assert sms_segments(portuguese) == ("GSM-7", 1)
    assert english.endswith("\n\nReply with a number.")


async def test_whatsapp_list_button_and_numbered_hint_in_portuguese(channels, sandbox):
    whatsapp = channels["whatsapp"]
    customer_id = await customer(whatsapp, WA_ID, 60)
    output = whatsapp.output_channel(WA_ID)
    await output.send_text_with_buttons(customer_id, "Escolha uma opção:", FOUR, **PT)
    await output.send_text_with_buttons(customer_id, "Escolha uma opção:", TWELVE, **PT)  # too many: numbered
    await output.send_text_with_buttons(customer_id, "Pick one:", FOUR)
    listing, numbered, english = [m["body"] for m in sent(sandbox, "whatsapp", WA_ID)]
    assert listing["interactive"]["action"]["button"] == "Opções"
    assert listing["interactive"]["action"]["sections"][0]["title"] == "Opções"
    assert numbered["text"]["body"].endswith("12. Opcao 12\n\nResponda com o número da sua escolha.")
    assert english["interactive"]["action"]["button"] == "Options"


async def test_a_held_message_keeps_its_language_until_it_goes_out(channels, sandbox):
    whatsapp = channels["whatsapp"]
    customer_id = await customer(whatsapp, WA_ID, 25 * 3600)  # window closed: held
    await whatsapp.output_channel(None).send_text_with_buttons(customer_id, "Escolha uma opção:", TWELVE, **PT)
    await customer(whatsapp, WA_ID, 1)  # the customer writes again
    assert await whatsapp.output_channel(WA_ID).send_held(customer_id) == 1
    [held] = [m["body"] for m in sent(sandbox, "whatsapp", WA_ID) if m["body"]["type"] == "text"]
    assert held["text"]["body"].endswith("\n\nResponda com o número da sua escolha.")


def test_an_email_turn_is_framed_in_the_language_of_its_messages():
    parts = [Part(text="É sobre qual destes assuntos?", buttons=TWO, language="pt")]
    mail = build_reply(sender="shop@shop.example", sender_name="Loja", to="ana@example.com", to_name="Ana Souza",
                       parts=parts, parent=None)
    assert mail["Subject"] == "Re: Sua mensagem"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == (
        "Olá Ana,\n\nÉ sobre qual destes assuntos?\n\n1. Cadastro\n2. Entrega\n\n"
        "Responda com o número ou com as palavras da opção que você escolher.\n\n"
        "Atenciosamente,\nEquipe de atendimento\n")
    english = build_reply(sender="shop@shop.example", sender_name="Shop", to="ana@example.com", to_name="Ana",
                          parts=[Part(text="Done.")], parent=None)
    assert english.get_body(("plain",)).get_content().replace("\r\n", "\n") == (
        "Hello Ana,\n\nDone.\n\nBest regards,\nThe support team\n")


def test_words_a_business_set_itself_are_kept_as_written():
    style = Style(greeting="Oi{name}!", sign_off="Beijos,\nLoja da Ana")
    mail = build_reply(sender="shop@shop.example", sender_name="Loja", to="ana@example.com", to_name="Ana",
                       parts=[Part(text="Pronto.", language="pt")], parent=None, style=style)
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Oi Ana!\n\nPronto.\n\nBeijos,\nLoja da Ana\n"
