"""CPFs: which 11 digits are one, and that every way customer text is kept holds only the mask.

The channels' own `text_for_bot` (on a real Redis), an email's event, the inbox as the webhook
stores events, the CRM timeline rows and the handoff summary; tests/privacy/test_cpf_with_rasa.py sends CPFs
through the running system.
"""
from __future__ import annotations

import time
import types
from email.message import EmailMessage

import pytest
from redis.asyncio import Redis

from connectors.email.channel import EmailInput, event_for
from connectors.email.message import parse_email
from connectors.instagram import InstagramInput
from connectors.sms import SmsInput
from connectors.webhook import events as kinds
from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import Inbox
from connectors.webhook.records import ChannelRecords
from connectors.whatsapp import WhatsAppInput
from tests.privacy.stored import everything_in_redis
from threadline.crm.timeline import interactions_from_events
from threadline.handoff.journey import Journey
from threadline.handoff.rendering import redact
from threadline.privacy.cpf import find_cpfs, is_valid_cpf, mask, mask_cpfs

# Valid check digits (computed by hand from the mod-11 rule, not by the code under test).
CPF, CPF_DIGITS, MASK = "529.982.247-25", "52998224725", "***.982.247-**"
OTHER_CPF = "123.456.789-09"


@pytest.mark.parametrize("digits", ["52998224725", "12345678909", "11144477735", "00000000191"])
def test_valid_check_digits(digits):
    assert is_valid_cpf(digits)


@pytest.mark.parametrize("digits", [
    "52998224726", "52998224715",  # one check digit wrong
    "11111111111", "00000000000", "99999999999",  # all one digit: the arithmetic passes, no CPF
    "5299822472", "529982247250", "529.982.247-25",  # not eleven bare digits
])
def test_invalid_cpfs(digits):
    assert not is_valid_cpf(digits)


@pytest.mark.parametrize("text, masked", [
    ("meu cpf é 529.982.247-25", "meu cpf é ***.982.247-**"),
    ("529.982.247-25", MASK),  # the CPF format with valid check digits needs no word
    ("CPF: 52998224725 obg", "CPF: ***.982.247-** obg"),
    ("cpf nº 529982247-25", "cpf nº ***.982.247-**"),
    ("12345678909", "***.456.789-**"),  # bare, valid, not a mobile's shape
    ("o c.p.f. do titular eh 11144477735.", "o c.p.f. do titular eh ***.444.777-**."),
    ("cpf 529.982.247-26", "cpf ***.982.247-**"),  # named a CPF, one digit mistyped: masked all the same
    ("cpf 11987654321", "cpf ***.876.543-**"),  # named a CPF: whatever its shape
    ("dois: 529.982.247-25 e 123.456.789-09", "dois: ***.982.247-** e ***.456.789-**"),
])
def test_cpfs_are_masked(text, masked):
    assert mask_cpfs(text) == masked


@pytest.mark.parametrize("text", [
    "me liga no 11987654321",  # Brazilian mobile: area code 11, then 9
    "11987654321",  # valid-looking shape of a phone, no word: a phone
    "tel 12345678909",  # valid CPF digits, but the customer says it is a phone
    "whatsapp 5511987654321",  # 13 digits: a phone with country code
    "+5512345678909",
    "529.982.247-26",  # the CPF format with a wrong check digit and no word: not a CPF
    "111.111.111-11", "cpf 11111111111",  # placeholders
    "pedido 48213", "R$ 1.234,56", "boleto 23793.38128 60000.000003",
    "custa 123.456.789-09,50",  # part of a longer number
])
def test_look_alikes_are_left_alone(text):
    assert find_cpfs(text) == [] and mask_cpfs(text) == text


def test_mask_keeps_the_middle_six_digits():
    assert mask(CPF_DIGITS) == MASK
    assert mask_cpfs(MASK) == MASK  # masking twice changes nothing


# --- every channel's text for the bot --------------------------------------------------------
CHANNELS = {
    "whatsapp": (WhatsAppInput(app_secret="s", verify_token="v", access_token="t", phone_number_id="1",
                               sandbox=False), "5511987654321"),
    "instagram": (InstagramInput(app_secret="s", verify_token="v", access_token="t", sandbox=False),
                  "1784140512345678"),
    "sms": (SmsInput(account_sid="AC1", auth_token="t", from_number="+15550001111", sandbox=False),
            "+5511987654321"),
    "email": (EmailInput(None), "ana@example.com"),
}


def inbound(channel: str, text: str) -> InboundEvent:
    return InboundEvent(channel=channel, kind=kinds.MESSAGE, event_id=f"{channel}-{time.monotonic_ns()}",
                        address=CHANNELS[channel][1], text=text,
                        message_type="email" if channel == "email" else "text")


@pytest.fixture
async def records(redis_url):
    redis = Redis.from_url(redis_url)
    yield ChannelRecords(redis)
    await redis.close()


@pytest.mark.parametrize("channel", sorted(CHANNELS))
async def test_every_channel_hands_rasa_the_masked_text(channel, records):
    connector = CHANNELS[channel][0]
    text = await connector.text_for_bot(inbound(channel, f"oi, meu cpf é {CPF}, cadê meu pedido?"),
                                        types.SimpleNamespace(records=records), "cus_ana")
    assert text == f"oi, meu cpf é {MASK}, cadê meu pedido?"


def test_an_emails_subject_and_full_text_are_masked_in_its_event():
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Ana <ana@example.com>", "loja@example.com", f"CPF {CPF}"
    mail["Message-ID"] = "<m1@example.com>"
    mail.set_content(f"Bom dia,\n\nmeu cpf é {CPF_DIGITS}, preciso da nota.\n\nAna")
    event = event_for(parse_email(bytes(mail)))
    assert event.details["email"]["subject"] == f"CPF {MASK}"
    assert MASK in event.details["email"]["full_text"] and CPF_DIGITS not in event.details["email"]["full_text"]
    assert CPF_DIGITS not in event.with_cpfs_masked().to_json()


async def test_the_inbox_stores_events_masked(redis_url):
    redis = Redis.from_url(redis_url)
    try:
        inbox = Inbox(redis, "whatsapp", dedupe_ttl_s=60)
        event = inbound("whatsapp", f"cpf {CPF_DIGITS}")
        event.payload = f"meu cpf {CPF}"  # a payload never offered is read as typed text
        assert await inbox.accept([event]) == 1
        stored = await everything_in_redis(redis)
    finally:
        await redis.close()
    assert MASK.encode() in stored
    assert CPF_DIGITS.encode() not in stored and CPF.encode() not in stored
    assert event.text == f"cpf {CPF_DIGITS}"  # the caller's event is not changed


# --- the CRM timeline and the handoff summary ------------------------------------------------
def user_event(text: str, at: float) -> dict:
    return {"event": "user", "text": text, "timestamp": at, "metadata": {"channel": "whatsapp"},
            "parse_data": {"intent": {"name": "complaint", "confidence": 0.9}, "entities": []}}


def test_timeline_rows_hold_the_mask_even_for_text_that_reached_the_log_in_clear():
    # A conversation from before the masking, or a message posted through Rasa's HTTP API.
    records, _ = interactions_from_events("cus_ana", [user_event(f"meu cpf {CPF} e nada chegou", 1.7e9)], None)
    assert [r.text for r in records] == [f"meu cpf {MASK} e nada chegou"]


def test_the_summary_quotes_the_customer_with_the_mask():
    journey = Journey.from_events("cus_ana", [user_event(f"absurdo, ja passei meu cpf {CPF_DIGITS} tres vezes", 1.7e9)])
    assert [m.text for m in journey.last_messages()] == [f"absurdo, ja passei meu cpf {MASK} tres vezes"]


def test_redact_masks_cpfs_and_does_not_call_them_phones():
    assert redact(f"cpf {OTHER_CPF}, fone +55 11 98765-4321") == "cpf ***.456.789-**, fone [phone]"
