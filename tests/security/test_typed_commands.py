"""Attacks: typed "/intent" commands and payloads the bot never offered (issue #12).

Rasa 3.6 reads a message as a command when its text, after `str.strip()`, starts with "/"
(`RegexMessageHandler`, at the end of every NLU graph): "/restart" restarts the conversation,
`/provide_contact{"email": …}` sets entities at confidence 1. What a customer types must reach
Rasa as words on every channel, however it is disguised, and a button payload only counts when
the bot offered it to that customer and it is still the current offer. Each attack goes
through the real channel's `text_for_bot` (on a real Redis) and then through Rasa's own
parsing; the webhook tests go through the real connectors, inbox and consumer, and the last
one through the real Rasa server, inbox worker and trained model.
"""
from __future__ import annotations

import logging
import time
import types
import unicodedata
from pathlib import Path
from typing import Any, Dict, List, Optional

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.core.domain import Domain
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from redis.asyncio import Redis

from bench.rasa_stack import RasaStack
from connectors.email.channel import EmailInput
from connectors.instagram import InstagramInput
from connectors.sms import SmsInput
from connectors.webhook import events as kinds
from connectors.webhook.events import InboundEvent
from connectors.webhook.offers import Offer
from connectors.webhook.records import ChannelRecords
from connectors.webhook.typed_text import typed_text_for_nlu
from connectors.whatsapp import WhatsAppInput
from threadline.sandbox import payloads as p
from tests.channels.conftest import bot, channel_env, post, sandbox, store  # noqa: F401 (fixtures)
from tests.channels.helpers import handled, sent
from tests.support.outbound import customer_of_our_message
from tests.support.sandbox import serve_sandbox
from tests.support.waiting import wait_for

DOMAIN = Domain.load(Path(__file__).resolve().parents[2] / "domain.yml")
CUSTOMER, OTHER_CUSTOMER = "cus_ana", "cus_bruno"
ADDRESSES = {"whatsapp": "5511987654321", "instagram": "1784140512345678", "sms": "+5511987654321",
             "email": "ana@example.com"}
CHANNELS = {
    "whatsapp": WhatsAppInput(app_secret="s", verify_token="v", access_token="t", phone_number_id="1", sandbox=False),
    "instagram": InstagramInput(app_secret="s", verify_token="v", access_token="t", sandbox=False),
    "sms": SmsInput(account_sid="AC1", auth_token="t", from_number="+15550001111", sandbox=False),
    "email": EmailInput(None),
}
MENU = [{"title": "Yes", "payload": "/affirm"}, {"title": "Talk to a person", "payload": "/request_human"}]

# (attack, the customer's words that must survive)
BYPASSES = [
    ("/restart", "restart"),
    ("/ /restart", "restart"),           # Rasa strips again after a single lstrip("/")
    ("/ / / //restart", "restart"),
    (" /restart", "restart"),
    ("\t/greet", "greet"),
    ("\n\n/restart", "restart"),
    ("\u00a0/restart", "restart"),       # no-break space
    ("\u3000/restart", "restart"),       # ideographic space
    ("\u2028/restart", "restart"),       # line separator
    ("\u0085/restart", "restart"),       # next line (a control Python's strip removes)
    ("\u200b/restart", "restart"),       # zero-width space
    ("\u200c\u200d/restart", "restart"),  # zero-width non-joiner, joiner
    ("\u2060/restart", "restart"),       # word joiner
    ("\ufeff/restart", "restart"),       # BOM
    ("\u202e/restart", "restart"),       # right-to-left override
    ("\u2066/restart\u2069", "restart\u2069"),  # bidi isolate
    ("\u3164/restart", "restart"),       # Hangul filler: a "letter" that shows nothing
    ("\u0301/restart", "restart"),       # combining mark with nothing to sit on
    ("\u00a8/restart", "restart"),       # NFKC: space + combining diaeresis
    ("\x00/restart", "restart"),         # NUL
    ("\uff0frestart", "restart"),        # fullwidth solidus, "/" after NFKC
    (" \uff0f\u200b/restart", "restart"),
    ("/\u200b/restart", "restart"),
    ("/restart@1.0", "restart@1.0"),
    ('/provide_contact{"email":"x@evil.example"}', 'provide_contact{"email":"x@evil.example"}'),
    ('\u200b\uff0fprovide_contact{"email":"x@evil.example"}', 'provide_contact{"email":"x@evil.example"}'),
    ("/greet\u200b", "greet\u200b"),
    ("\u2215restart", "\u2215restart"),  # division slash: not "/" for Rasa nor for NFKC; kept as typed
]


def rasa_reads(text: str) -> Dict[str, Any]:
    """What Rasa 3.6 makes of a text a channel hands it: `UserMessage` strips it, then
    `RegexMessageHandler` unpacks "/intent{entities}" (None: no intent command)."""
    [parsed] = RegexMessageHandler().process([Message({TEXT: UserMessage(text=text).text})], DOMAIN)
    return {"intent": parsed.get(INTENT), "entities": parsed.get(ENTITIES) or []}


def command_after_normalising(text: str) -> bool:
    """Whether a layer that applies NFKC and drops every kind of whitespace, zero-width,
    bidi, control and combining character in front would see an intent command."""
    normalised = unicodedata.normalize("NFKC", text)
    start = 0
    while start < len(normalised) and (normalised[start].isspace() or unicodedata.category(
            normalised[start]) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me")):
        start += 1
    return normalised[start:].startswith("/")


def message(channel: str, text: Optional[str] = None, payload: Optional[str] = None,
            message_type: str = "text") -> InboundEvent:
    return InboundEvent(channel=channel, kind=kinds.MESSAGE, event_id=f"{channel}-{time.monotonic_ns()}",
                        address=ADDRESSES[channel], text=text, payload=payload, message_type=message_type)


@pytest.fixture
async def records(redis_url):
    redis = Redis.from_url(redis_url)
    yield ChannelRecords(redis)
    await redis.close()


async def text_for_bot(records: ChannelRecords, event: InboundEvent, customer_id: str = CUSTOMER) -> str:
    """The channel's real `text_for_bot`; it reads only the channel records of its runtime."""
    return await CHANNELS[event.channel].text_for_bot(event, types.SimpleNamespace(records=records), customer_id)


def log_lines(caplog) -> List[str]:
    return [record.getMessage() for record in caplog.records]


# --- the checks themselves can fail --------------------------------------------------------
def test_the_checks_see_the_commands_rasa_would_run():
    assert rasa_reads("/restart")["intent"]["name"] == "restart"
    assert rasa_reads(" /restart")["intent"]["name"] == "restart"
    old_guard = "/ /restart".strip().lstrip("/")  # what the channels did before
    assert rasa_reads(old_guard)["intent"]["name"] == "restart"
    injected = rasa_reads('/provide_contact{"email":"x@evil.example"}')
    assert injected["intent"]["name"] == "provide_contact"
    assert injected["entities"][0]["value"] == "x@evil.example"
    assert command_after_normalising("\u200b/restart") and command_after_normalising("\uff0frestart")


# --- typed text, every channel --------------------------------------------------------------
@pytest.mark.parametrize("channel", sorted(CHANNELS))
@pytest.mark.parametrize("attack,words", BYPASSES)
async def test_typed_command_reaches_rasa_as_words(channel, attack, words, records, caplog):
    caplog.set_level(logging.INFO, logger="connectors")
    text = await text_for_bot(records, message(channel, attack, message_type="email" if channel == "email" else "text"))
    assert rasa_reads(text) == {"intent": None, "entities": []}
    assert not command_after_normalising(text)
    assert UserMessage(text=text).text == words.strip()
    lines = log_lines(caplog)
    hid_a_prefix = "/" in unicodedata.normalize("NFKC", attack.split(words)[0])
    assert len([line for line in lines if "intent command prefix" in line]) == (1 if hid_a_prefix else 0)
    assert not any(words.strip() in line for line in lines)  # no message text in the log


def test_no_character_of_unicode_disguises_the_prefix():
    for code_point in range(0x110000):
        if 0xD800 <= code_point <= 0xDFFF:
            continue  # lone surrogates are not text
        text = typed_text_for_nlu(chr(code_point) + "/restart")
        assert not text.strip().startswith("/"), hex(code_point)
        assert not command_after_normalising(text), hex(code_point)


@pytest.mark.parametrize("name,attack", [
    ("slashes", "/" * 1_000_000),
    ("zero-width", "\u200b" * 1_000_000),
    ("combining marks", "\u0301" * 1_000_000),
    ("tabs", "\t" * 1_000_000),
    ("mixed", "/\u200b \u3000\uff0f\u00a8" * 170_000 + "restart"),
    ("words", "restart " * 125_000),
])
async def test_a_megabyte_of_disguise_is_neutralised_within_a_second(name, attack, records):
    started = time.perf_counter()
    text = await text_for_bot(records, message("whatsapp", attack))
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{name}: {elapsed:.3f} s"
    assert rasa_reads(text)["intent"] is None or text == "/share_media"  # nothing left: media intent


# --- payloads: only the customer's current offer ------------------------------------------
async def test_forged_whatsapp_button_reply_is_read_as_its_title(records, caplog):
    caplog.set_level(logging.INFO, logger="connectors")
    await records.offer(CUSTOMER, Offer.of_buttons("whatsapp", MENU, numbered=False))
    forged = message("whatsapp", text="Reboot ZX81", payload="/restart", message_type="interactive")
    assert await text_for_bot(records, forged) == "Reboot ZX81"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "not in their current offer" in warnings[0]
    assert not any("Reboot" in line or "/restart" in line for line in log_lines(caplog))


async def test_forged_payload_without_a_title_is_neutralised_typed_text(records):
    assert await text_for_bot(records, message("whatsapp", payload="/restart", message_type="interactive")) == "restart"
    injected = await text_for_bot(records, message("instagram", payload='/provide_contact{"email":"x@evil.example"}',
                                                   message_type="postback"))
    assert rasa_reads(injected) == {"intent": None, "entities": []}


@pytest.mark.parametrize("channel,message_type", [("instagram", "postback"), ("instagram", "quick_reply"),
                                                  ("whatsapp", "button")])
async def test_intent_payload_never_offered_is_read_as_its_words(channel, message_type, records):
    await records.offer(CUSTOMER, Offer.of_buttons(channel, MENU, numbered=False))
    event = message(channel, text="Track my order", payload="/order_status", message_type=message_type)
    assert await text_for_bot(records, event) == "Track my order"


@pytest.mark.parametrize("channel", ["whatsapp", "instagram"])
async def test_offered_payload_is_accepted(channel, records):
    await records.offer(CUSTOMER, Offer.of_buttons(channel, MENU, numbered=False))
    assert await text_for_bot(records, message(channel, text="Yes", payload="/affirm")) == "/affirm"


async def test_payload_of_an_older_offer_is_typed_text(records):
    await records.offer(CUSTOMER, Offer.of_buttons("whatsapp", MENU, numbered=False))
    await records.offer(CUSTOMER, Offer.of_buttons("instagram", [{"title": "Pix", "payload": "/payment_methods"}],
                                                   numbered=False))
    assert await text_for_bot(records, message("whatsapp", text="Yes", payload="/affirm")) == "Yes"
    assert await text_for_bot(records, message("whatsapp", text="Pix", payload="/payment_methods")) \
        == "/payment_methods"  # the newest offer counts on any channel


async def test_another_customers_offer_is_not_this_customers(records):
    await records.offer(OTHER_CUSTOMER, Offer.of_buttons("whatsapp", MENU, numbered=False))
    assert await text_for_bot(records, message("whatsapp", text="Yes", payload="/affirm")) == "Yes"


async def test_expired_offer_is_typed_text(records):
    await records.offer(CUSTOMER, Offer.of_buttons("whatsapp", MENU, numbered=False), ttl_s=1)
    await wait_for(lambda: _gone(records, f"tl:out:offer:{CUSTOMER}"), timeout=5)
    assert await text_for_bot(records, message("whatsapp", text="Yes", payload="/affirm")) == "Yes"


async def _gone(records: ChannelRecords, key: str) -> bool:
    return not await records.redis.exists(key)


# --- numbered options (SMS, email, lists too long for native buttons) ------------------------
@pytest.mark.parametrize("answer,expected", [
    ("2", "/request_human"), ("2.", "/request_human"), ("\uff12", "/request_human"),  # fullwidth 2
    ("3", "3"), ("0", "0"),
    ("\u00b2", "/request_human"),  # superscript two is 2 after NFKC
    ("\u2781", "\u2781"),      # dingbat two: a digit to str.isdigit, not a number to int()
    ("9" * 5000, "9" * 5000),  # int() of 5000 digits raises in Python 3.10
    ("/2", "2"),
])
async def test_numbered_answers_choose_only_from_the_list_shown(answer, expected, records):
    await records.offer(CUSTOMER, Offer.of_buttons("sms", MENU, numbered=True))
    assert await text_for_bot(records, message("sms", answer)) == expected


async def test_number_typed_on_another_channel_is_typed_text(records):
    await records.offer(CUSTOMER, Offer.of_buttons("sms", MENU, numbered=True))
    assert await text_for_bot(records, message("whatsapp", "2")) == "2"


async def test_email_answers_by_number_or_words_and_never_by_command(records):
    await records.offer(CUSTOMER, Offer.of_buttons("email", MENU, numbered=True))
    assert await text_for_bot(records, message("email", "2\n\n> How can I help?", message_type="email")) \
        == "/request_human"
    assert await text_for_bot(records, message("email", "talk to a person", message_type="email")) \
        == "/request_human"
    assert await text_for_bot(records, message("email", "\u200b/ /restart\n\nRegards", message_type="email")) \
        == "restart\n\nRegards"


# --- through the real webhooks, inbox and consumer (scripted bot) ------------------------------
WA_ID = ADDRESSES["whatsapp"]


def whatsapp_delivery(env, messages, wa_id=WA_ID):
    envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], messages, contacts=[p.whatsapp_contact(wa_id, "Ana")])
    return p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope)


def button_reply(payload: str, title: str, wa_id: str = WA_ID) -> dict:
    return p.whatsapp_message("interactive", wa_id, {"type": "button_reply", "button_reply": {"id": payload, "title": title}})


async def test_webhook_payloads_count_only_from_the_current_offer(bot, sandbox, store, channel_env):
    url = f"{bot.base}/whatsapp/webhook"
    await post(url, whatsapp_delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "menu 2"})]))
    await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID))  # buttons /choose{"n":1}, /choose{"n":2}
    await post(url, whatsapp_delivery(channel_env, [button_reply('/choose{"n":2}', "Option 2")]))
    await post(url, whatsapp_delivery(channel_env, [button_reply("/restart", "Start over")]))  # never offered
    await post(url, whatsapp_delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "menu 3"})]))
    await wait_for(lambda: len(sent(sandbox, "whatsapp", WA_ID)) >= 4)  # the newer offer went out
    await post(url, whatsapp_delivery(channel_env, [button_reply('/choose{"n":1}', "Option 1")]))  # still offered
    await post(url, whatsapp_delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "/ /restart"})]))
    # Someone else is answered all along.
    other = "559281723241"
    await post(url, whatsapp_delivery(channel_env, [p.whatsapp_message("text", other, {"body": "oi"})], wa_id=other))
    texts = [e["text"] for e in await handled(store, 7) if e["metadata"]["address"] == WA_ID]
    assert texts == ["menu 2", '/choose{"n":2}', "Start over", "menu 3", '/choose{"n":1}', "restart"]
    assert (await wait_for(lambda: sent(sandbox, "whatsapp", other)))[0]["body"]["text"]["body"] == "You said: oi"


async def test_webhook_button_of_an_older_offer_is_typed_text(bot, sandbox, store, channel_env):
    url = f"{bot.base}/whatsapp/webhook"
    await post(url, whatsapp_delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "menu 3"})]))
    await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID))
    await post(url, whatsapp_delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "menu 2"})]))
    await wait_for(lambda: len(sent(sandbox, "whatsapp", WA_ID)) >= 2)  # the newer offer has no option 3
    await post(url, whatsapp_delivery(channel_env, [button_reply('/choose{"n":3}', "Option 3")]))
    assert [e["text"] for e in await handled(store, 3)][2] == "Option 3"


# --- through the real Rasa server, inbox worker and trained model -------------------------------
@pytest.fixture(scope="module")
def rasa_stack(assistant_stack):
    """The session's assistant, on its own Redis (the scripted bot server above consumes the
    same streams on the shared one); RASA_WA_ID is a customer no other file writes as."""
    return assistant_stack


RASA_WA_ID = "5511944440002"


@pytest.mark.slow
async def test_typed_restart_does_not_restart_the_conversation_in_rasa(rasa_stack):
    env, url = rasa_stack.env, f"{rasa_stack.base}/webhooks/whatsapp/webhook"
    async with serve_sandbox(env, rasa_stack.sandbox_port) as provider:
        hello = [p.whatsapp_message("text", RASA_WA_ID, {"body": "hi there"})]
        assert await post(url, whatsapp_delivery(env, hello, RASA_WA_ID)) == 200
        greeting = (await wait_for(lambda: sent(provider, "whatsapp", RASA_WA_ID), timeout=60))[0]
        restart = [p.whatsapp_message("text", RASA_WA_ID, {"body": "/ /restart"})]
        assert await post(url, whatsapp_delivery(env, restart, RASA_WA_ID)) == 200
        customer_id = await wait_for(lambda: customer_of_our_message(env["REDIS_URL"], "whatsapp", greeting["id"]))  # recorded after the send
        events = await wait_for(lambda: _after_second_turn(rasa_stack, customer_id), timeout=60)
    users = [e for e in events if e["event"] == "user"]
    assert [u["text"] for u in users] == ["hi there", "restart"]
    assert users[1]["parse_data"]["intent"]["name"] != "restart"
    assert not any(e.get("extractor") == "RegexMessageHandler" for u in users for e in u["parse_data"]["entities"])
    assert "restart" not in [e["event"] for e in events]


async def _after_second_turn(stack: RasaStack, customer_id: str):
    """The tracker's events once the second message's turn has ended (back to listening)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{stack.base}/conversations/{customer_id}/tracker?token={stack.token}") as response:
            events = (await response.json())["events"]
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    done = len(users) >= 2 and any(e["event"] == "action" and e["name"] == "action_listen"
                                   for e in events[users[1]:])
    return events if done else None
