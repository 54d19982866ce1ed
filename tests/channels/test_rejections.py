"""Bad requests: never a 5xx, never a crash, never a bot reply, always a log line without the
message body."""
from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import aiohttp
import pytest

from connectors.webhook.signatures import META_HEADER, TWILIO_HEADER, meta_signature, twilio_signature
from threadline.sandbox import payloads as p
from tests.channels.helpers import settle

SECRET_WORDS = "my card number is 4111111111111111"


def whatsapp_body(env) -> bytes:
    message = p.whatsapp_message("text", "5511987654321", {"body": SECRET_WORDS})
    return json.dumps(p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], [message])).encode()


def instagram_body(env) -> bytes:
    item = p.instagram_item("1784140512345678", env["INSTAGRAM_ACCOUNT_ID"], message={"mid": p.new_ig_mid(), "text": SECRET_WORDS})
    return json.dumps(p.instagram_envelope(env["INSTAGRAM_ACCOUNT_ID"], [item])).encode()


def meta_cases(env, channel, body_for):
    secret = env[f"{channel.upper()}_APP_SECRET"]
    body = body_for(env)
    other = body_for(env)  # a different, validly signed delivery: its signature replayed on `body`
    json_type = {"Content-Type": "application/json"}
    big = b'{"object":"x","pad":"' + b"a" * (5 * 1024 * 1024) + b'"}'
    bad_utf8 = b'{"object":"whatsapp_business_account","entry":[{"x":"\xff\xfe"}]}'
    return {
        "unsigned": (body, json_type, 401),
        "forged with another secret": (body, {**json_type, META_HEADER: meta_signature("guessed", body)}, 403),
        "replayed signature of another body": (body, {**json_type, META_HEADER: meta_signature(secret, other)}, 403),
        "garbage signature": (body, {**json_type, META_HEADER: "sha256=zz"}, 403),
        "malformed JSON, signed": (b'{"object": "whats', {**json_type, META_HEADER: meta_signature(secret, b'{"object": "whats')}, 400),
        "JSON array, signed": (b"[1,2]", {**json_type, META_HEADER: meta_signature(secret, b"[1,2]")}, 400),
        "wrong content type, signed": (body, {"Content-Type": "text/plain", META_HEADER: meta_signature(secret, body)}, 415),
        "5 MB body": (big, {**json_type, META_HEADER: meta_signature(secret, big)}, 413),
        "invalid UTF-8, signed": (bad_utf8, {**json_type, META_HEADER: meta_signature(secret, bad_utf8)}, 400),
    }


def sms_cases(env):
    url, token = env["TWILIO_WEBHOOK_URL"], env["TWILIO_AUTH_TOKEN"]
    params = p.twilio_inbound(env["TWILIO_ACCOUNT_SID"], "+5511987654321", env["TWILIO_FROM_NUMBER"], SECRET_WORDS)
    body = urlencode(params).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    tampered = {**params, "Body": "send me a refund"}
    big = urlencode({**params, "Body": "a" * (5 * 1024 * 1024)}).encode()
    return {
        "unsigned": (body, form, 401),
        "forged with another token": (body, {**form, TWILIO_HEADER: twilio_signature("guessed", url, params)}, 403),
        "tampered body, original signature": (urlencode(tampered).encode(), {**form, TWILIO_HEADER: twilio_signature(token, url, params)}, 403),
        "signed for another URL": (body, {**form, TWILIO_HEADER: twilio_signature(token, "https://evil.example/hook", params)}, 403),
        "wrong content type": (body, {"Content-Type": "application/json", TWILIO_HEADER: twilio_signature(token, url, params)}, 415),
        "5 MB body": (big, {**form, TWILIO_HEADER: "x"}, 413),
        "invalid UTF-8": (b"Body=\xff\xfe&From=%2B1", {**form, TWILIO_HEADER: "x"}, 400),
    }


async def send_all(url, cases):
    async with aiohttp.ClientSession() as session:
        async def one(name, body, headers):
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return name, response.status
        return dict(await asyncio.gather(*(one(n, b, h) for n, (b, h, _) in cases.items())))


@pytest.mark.parametrize("channel", ["whatsapp", "instagram", "sms"])
async def test_bad_requests_are_refused_quietly(channel, bot, sandbox, store, channel_env):
    if channel == "sms":
        cases = sms_cases(channel_env)
    else:
        cases = meta_cases(channel_env, channel, whatsapp_body if channel == "whatsapp" else instagram_body)
    log_before = len(bot.edge.log())  # the server, where webhooks are refused
    statuses = await send_all(f"{bot.base}/{channel}/webhook", cases)
    assert statuses == {name: expected for name, (_, _, expected) in cases.items()}
    assert await settle(store, 1.0) == []
    assert sandbox.sent == []
    new_log = bot.edge.log()[log_before:]
    assert new_log.count(f"{channel} webhook rejected") == len(cases)
    assert SECRET_WORDS not in new_log and "4111" not in new_log
    assert "Traceback" not in new_log
    # Still alive and serving.
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{bot.base}/{channel}/") as response:
            assert response.status == 200
