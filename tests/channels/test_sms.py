"""SMS through Twilio: form-encoded, Twilio-signed deliveries; replies via Messages.json."""
from __future__ import annotations

import asyncio

from connectors.webhook.text import sms_segments
from threadline.sandbox import payloads as p
from tests.channels.bot_server import LONG_TEXT
from tests.channels.conftest import post
from tests.support.waiting import wait_for
from tests.channels.helpers import handled, sent, settle

PHONE = "+5511987654321"


def delivery(env, body, media=(), sid=""):
    params = p.twilio_inbound(env["TWILIO_ACCOUNT_SID"], PHONE, env["TWILIO_FROM_NUMBER"], body, list(media), sid)
    return p.twilio_delivery(env["TWILIO_AUTH_TOKEN"], env["TWILIO_WEBHOOK_URL"], params)


def url(bot):
    return f"{bot.base}/sms/webhook"


async def test_text_and_reply_with_status_callbacks(bot, sandbox, store, channel_env):
    assert await post(url(bot), delivery(channel_env, "Não recebi minha fatura")) == 200
    [event] = await handled(store)
    assert event["text"] == "Não recebi minha fatura" and event["metadata"]["address"] == PHONE
    reply = (await wait_for(lambda: sent(sandbox, "sms", PHONE)))[0]
    assert reply["body"]["Body"] == "You said: Não recebi minha fatura"
    assert reply["body"]["From"] == channel_env["TWILIO_FROM_NUMBER"]
    assert reply["body"]["StatusCallback"] == channel_env["TWILIO_WEBHOOK_URL"]
    key = f"tl:out:msg:sms:{reply['id']}"
    assert await wait_for(lambda: _status(store, key, b"delivered"))
    assert (await store.hget(key, "encoding")) == b"UCS-2"  # "ã" is not in GSM-7


async def _status(store, key, status):
    return (await store.hget(key, "status")) == status


async def test_mms_media_is_recorded_and_answered(bot, sandbox, store, channel_env):
    media = [("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")]
    await post(url(bot), delivery(channel_env, "", media))
    [event] = await handled(store)
    assert event["text"] == "/share_media"
    assert event["metadata"]["media"] == [{"type": "image/jpeg", "url": media[0][0]}]


def crm_opt_outs(env):
    """The CRM's record of SMS opt-outs (threadline/crm/opt_outs.py), which follow-ups read."""
    from threadline.crm import Database
    from threadline.crm.models.followups import CustomerOptOut

    database = Database(env["CRM_DATABASE_URL"])
    try:
        return database.transaction(lambda s: [(r.channel, r.source) for r in s.query(CustomerOptOut)])
    finally:
        database.dispose()


async def test_stop_is_respected_until_start(bot, sandbox, store, channel_env):
    await post(url(bot), delivery(channel_env, "STOP"))
    await wait_for(lambda: store.sismember("tl:out:optout:sms", PHONE))
    assert await wait_for(lambda: crm_opt_outs(channel_env)) == [("sms", "sms_stop")]
    await post(url(bot), delivery(channel_env, "hello?"))
    await handled(store)
    await asyncio.sleep(0.5)
    assert sent(sandbox, "sms", PHONE) == []  # the bot answered, the connector held it
    held = await store.xrange("tl:out:held")
    assert held and held[0][1][b"reason"] == b"sms recipient opted out (STOP)"
    await post(url(bot), delivery(channel_env, "START"))
    await wait_for(lambda: _not(store.sismember("tl:out:optout:sms", PHONE)))
    assert await wait_for(lambda: crm_opt_outs(channel_env) == []) is True
    await post(url(bot), delivery(channel_env, "back again"))
    reply = (await wait_for(lambda: sent(sandbox, "sms", PHONE)))[0]
    assert reply["body"]["Body"] == "You said: back again"
    assert [e["text"] for e in await settle(store, 0.3)] == ["hello?", "back again"]  # keywords never reach the bot


async def _not(awaitable):
    return not await awaitable


async def test_numbered_options_are_understood(bot, sandbox, store, channel_env):
    await post(url(bot), delivery(channel_env, "menu 3"))
    text = (await wait_for(lambda: sent(sandbox, "sms", PHONE)))[0]["body"]["Body"]
    assert "1. Option 1\n2. Option 2\n3. Option 3" in text
    await post(url(bot), delivery(channel_env, "2"))
    assert (await handled(store, 2))[1]["text"] == '/choose{"n":2}'
    await post(url(bot), delivery(channel_env, "7"))  # not an offered option: plain text
    assert (await handled(store, 3))[2]["text"] == "7"


async def test_long_reply_split_within_1600_chars_and_10_segments(bot, sandbox, store, channel_env):
    await post(url(bot), delivery(channel_env, "long"))
    await wait_for(lambda: len(sent(sandbox, "sms", PHONE)) >= 5)
    await asyncio.sleep(0.5)
    bodies = [part["body"]["Body"] for part in sent(sandbox, "sms", PHONE)]
    assert len(bodies) == 5  # 7,449 GSM-7 characters; 10 segments of 153 = 1,530 per message
    assert all(len(b) <= 1600 and sms_segments(b)[1] <= 10 for b in bodies)
    assert all(b.endswith("order.") for b in bodies)
    assert " ".join(bodies) == LONG_TEXT


async def test_same_message_sid_three_times_one_event(bot, sandbox, store, channel_env):
    same = delivery(channel_env, "uma vez só", sid="SM" + "a" * 32)
    assert await asyncio.gather(*(post(url(bot), same) for _ in range(3))) == [200, 200, 200]
    assert await post(url(bot), same) == 200
    await handled(store)
    assert len(await settle(store, 1.0)) == 1
    assert len(sent(sandbox, "sms", PHONE)) == 1
