"""WhatsApp: realistic deliveries through the real connector, replies through the sandbox."""
from __future__ import annotations

import asyncio

import aiohttp

from threadline.sandbox import payloads as p
from tests.channels.conftest import post
from tests.support.waiting import wait_for
from tests.channels.helpers import activity, handled, sent, settle

WA_ID = "5511987654321"
OTHER = "559281723241"


def delivery(env, messages=(), statuses=(), contacts=None):
    envelope = p.whatsapp_envelope(env["WHATSAPP_PHONE_NUMBER_ID"], list(messages), list(statuses),
                                   contacts if contacts is not None else [p.whatsapp_contact(WA_ID, "Ana Souza")])
    return p.meta_delivery(env["WHATSAPP_APP_SECRET"], envelope)


def url(bot):
    return f"{bot.base}/whatsapp/webhook"


async def test_text_message_reaches_the_bot_and_the_reply_reaches_the_customer(bot, sandbox, store, channel_env):
    message = p.whatsapp_message("text", WA_ID, {"body": "Olá, meu pedido atrasou"},
                                 context={"from": "15550001234", "id": "wamid.PREVIOUS"},
                                 referral={"source_url": "https://fb.me/ad", "source_type": "ad", "source_id": "42"})
    assert await post(url(bot), delivery(channel_env, [message])) == 200
    [event] = await handled(store)
    assert event["sender_id"].startswith("cus_")
    assert event["text"] == "Olá, meu pedido atrasou"
    meta = event["metadata"]
    assert (meta["channel"], meta["address"], meta["provider_message_id"]) == ("whatsapp", WA_ID, message["id"])
    assert meta["profile_name"] == "Ana Souza"
    assert meta["reply_to"]["message_id"] == "wamid.PREVIOUS"
    assert meta["referral"]["source_id"] == "42"
    reply = (await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID)))[0]["body"]
    assert reply["to"] == WA_ID and reply["text"]["body"] == "You said: Olá, meu pedido atrasou"


async def test_batched_delivery_every_entry_change_and_message_in_order(bot, sandbox, store, channel_env):
    number = channel_env["WHATSAPP_PHONE_NUMBER_ID"]
    first = [p.whatsapp_message("text", WA_ID, {"body": f"part {n}"}) for n in range(1, 4)]
    second = [p.whatsapp_message("text", OTHER, {"body": "oi"})]
    envelope = p.whatsapp_envelope(number, first, contacts=[p.whatsapp_contact(WA_ID, "Ana")])
    other = p.whatsapp_envelope(number, second, contacts=[p.whatsapp_contact(OTHER, "Bruno")])
    envelope["entry"][0]["changes"].append({"field": "message_template_status_update", "value": {"event": "APPROVED"}})
    envelope["entry"].append(other["entry"][0])
    assert await post(url(bot), p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)) == 200
    events = await handled(store, 4)
    assert [e["text"] for e in events if e["metadata"]["address"] == WA_ID] == ["part 1", "part 2", "part 3"]
    assert [e["metadata"]["profile_name"] for e in events if e["metadata"]["address"] == OTHER] == ["Bruno"]
    assert len(await settle(store, 0.5)) == 4


async def test_offered_button_payloads_reach_the_bot_others_are_read_as_their_words(bot, sandbox, store, channel_env):
    await post(url(bot), delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "menu 7"})]))
    await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID))  # a list of 7 options
    messages = [
        p.whatsapp_message("interactive", WA_ID, {"type": "list_reply", "list_reply": {"id": "/choose{\"n\":2}", "title": "Option 2", "description": ""}}),
        p.whatsapp_message("interactive", WA_ID, {"type": "button_reply", "button_reply": {"id": "/affirm", "title": "Yes"}}),
        # A template's quick-reply button: its payload was set at Meta, never offered by the bot.
        p.whatsapp_message("button", WA_ID, {"payload": "/track_order", "text": "Track my order"}),
    ]
    assert await post(url(bot), delivery(channel_env, messages)) == 200
    assert [e["text"] for e in await handled(store, 4)][1:] == ['/choose{"n":2}', "Yes", "Track my order"]


async def test_typed_slash_commands_never_become_intents(bot, sandbox, store, channel_env):
    await post(url(bot), delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "/restart"})]))
    [event] = await handled(store)
    assert event["text"] == "restart"


async def test_media_location_contacts_are_recorded_and_answered(bot, sandbox, store, channel_env):
    messages = [
        p.whatsapp_message("image", WA_ID, {"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc", "caption": "the damaged box"}),
        p.whatsapp_message("audio", WA_ID, {"id": "987654", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        p.whatsapp_message("document", WA_ID, {"id": "55501", "mime_type": "application/pdf", "filename": "invoice.pdf"}),
        p.whatsapp_message("sticker", WA_ID, {"id": "77701", "mime_type": "image/webp", "animated": False}),
        p.whatsapp_message("video", WA_ID, {"id": "66601", "mime_type": "video/mp4"}),
        p.whatsapp_message("location", WA_ID, {"latitude": -23.5505, "longitude": -46.6333, "name": "Loja Centro", "address": "Praça da Sé"}),
        p.whatsapp_message("contacts", WA_ID, None, contacts=[{"name": {"formatted_name": "Carla"}, "phones": [{"phone": "+55 11 91234-5678"}]}]),
    ]
    assert await post(url(bot), delivery(channel_env, messages)) == 200
    events = await handled(store, 7)
    assert events[0]["text"] == "the damaged box"
    assert events[0]["metadata"]["media"] == [{"type": "image", "id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc"}]
    assert [e["text"] for e in events[1:]] == ["/share_media"] * 6
    assert events[1]["metadata"]["media"][0]["voice"] is True
    assert events[3]["metadata"]["media"][0]["id"] == "77701"
    assert events[5]["metadata"]["location"]["name"] == "Loja Centro"
    assert events[6]["metadata"]["contacts"][0]["name"]["formatted_name"] == "Carla"
    replies = await wait_for(lambda: len(sent(sandbox, "whatsapp", WA_ID)) >= 7 and sent(sandbox, "whatsapp", WA_ID))
    assert sum(r["body"]["text"]["body"] == "Thanks, I received it." for r in replies) == 6


async def test_reactions_edits_deletes_are_recorded_not_answered(bot, sandbox, store, identity, channel_env):
    messages = [
        p.whatsapp_message("reaction", WA_ID, {"message_id": "wamid.OURS", "emoji": "👍"}),
        p.whatsapp_message("reaction", WA_ID, {"message_id": "wamid.OURS", "emoji": ""}),
        p.whatsapp_message("edit", WA_ID, {"original_message_id": "wamid.THEIRS", "message": {"type": "text", "text": {"body": "fixed"}}}),
        p.whatsapp_message("revoke", WA_ID, {"original_message_id": "wamid.THEIRS"}),
        p.whatsapp_message("system", WA_ID, {"body": "User A changed from 5511987654321 to 5511987650000", "wa_id": "5511987650000", "type": "user_changed_number"}),
    ]
    assert await post(url(bot), delivery(channel_env, messages)) == 200
    recorded = await wait_for(lambda: _activity_count(identity, store, 5))
    assert [(e.kind, e.target_message_id, e.emoji) for e in recorded] == [
        ("reaction", "wamid.OURS", "👍"), ("reaction", "wamid.OURS", ""),
        ("edit", "wamid.THEIRS", None), ("delete", "wamid.THEIRS", None), ("system", None, None)]
    assert recorded[2].text == "fixed"
    assert await settle(store, 0.5) == []
    assert sent(sandbox, "whatsapp", WA_ID) == []


async def _activity_count(identity, store, count):
    events = await activity(identity, store, "whatsapp", WA_ID)
    return events if len(events) >= count else None


async def test_unsupported_and_welcome(bot, sandbox, store, channel_env):
    unsupported = p.whatsapp_message("unsupported", WA_ID, None, errors=[{"code": 131051, "title": "Message type unknown"}])
    welcome = p.whatsapp_message("request_welcome", WA_ID, None)
    await post(url(bot), delivery(channel_env, [unsupported, welcome]))
    assert [e["text"] for e in await handled(store, 2)] == ["/unsupported_message", "/greet"]
    replies = await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID))
    assert replies[0]["body"]["text"]["body"] == "Sorry, I can't open that kind of message yet."


async def test_delivery_statuses_are_recorded_against_our_message(bot, sandbox, store, channel_env):
    await post(url(bot), delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "hi"})]))
    reply = (await wait_for(lambda: sent(sandbox, "whatsapp", WA_ID)))[0]
    key = f"tl:out:msg:whatsapp:{reply['id']}"
    # The sandbox sends "sent" then "delivered" like Meta; then a late, out-of-order "sent".
    assert await wait_for(lambda: _status(store, key, "delivered"))
    late = p.whatsapp_status(reply["id"], "sent", WA_ID)
    assert await post(url(bot), delivery(channel_env, statuses=[late], contacts=[])) == 200
    await asyncio.sleep(0.5)
    assert (await store.hget(key, "status")) == b"delivered"
    failed = p.whatsapp_status(reply["id"], "failed", WA_ID, errors=[{"code": 131026, "title": "Message undeliverable"}])
    await post(url(bot), delivery(channel_env, statuses=[failed], contacts=[]))
    assert await wait_for(lambda: _status(store, key, "failed"))
    assert b"131026" in await store.hget(key, "errors")
    assert (await store.hget(key, "customer_id")).startswith(b"cus_")


async def _status(store, key, status):
    return (await store.hget(key, "status")) == status.encode()


async def test_buttons_render_natively_and_numbered_fallback_is_understood(bot, sandbox, store, channel_env):
    for text in ("menu 3", "menu 7", "menu 12"):
        await post(url(bot), delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": text})]))
    replies = await wait_for(lambda: len(sent(sandbox, "whatsapp", WA_ID)) >= 3 and sent(sandbox, "whatsapp", WA_ID))
    buttons, listing, numbered = (r["body"] for r in replies[:3])
    assert buttons["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in buttons["interactive"]["action"]["buttons"]] == [f'/choose{{"n":{n}}}' for n in (1, 2, 3)]
    assert listing["interactive"]["type"] == "list"
    assert len(listing["interactive"]["action"]["sections"][0]["rows"]) == 7
    assert numbered["type"] == "text" and "12. Option 12" in numbered["text"]["body"]
    await post(url(bot), delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "11"})]))
    events = await handled(store, 4)
    assert events[3]["text"] == '/choose{"n":11}'


async def test_long_reply_is_split_at_sentence_boundaries(bot, sandbox, store, channel_env):
    await post(url(bot), delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "long"})]))
    parts = await wait_for(lambda: len(sent(sandbox, "whatsapp", WA_ID)) >= 2 and sent(sandbox, "whatsapp", WA_ID))
    bodies = [part["body"]["text"]["body"] for part in parts]
    assert len(bodies) == 2 and all(len(b) <= 4096 for b in bodies)
    assert all(b.endswith("order.") for b in bodies)
    assert " ".join(bodies).startswith("This is sentence number 0")


async def test_same_delivery_three_times_one_event_one_reply(bot, sandbox, store, channel_env):
    sequential = delivery(channel_env, [p.whatsapp_message("text", WA_ID, {"body": "once"})])
    concurrent = delivery(channel_env, [p.whatsapp_message("text", OTHER, {"body": "once too"})],
                          contacts=[p.whatsapp_contact(OTHER, "Bruno")])
    assert [await post(url(bot), sequential) for _ in range(3)] == [200, 200, 200]
    assert await asyncio.gather(*(post(url(bot), concurrent) for _ in range(3))) == [200, 200, 200]
    await handled(store, 2)
    events = await settle(store, 1.0)
    assert sorted(e["text"] for e in events) == ["once", "once too"]
    await asyncio.sleep(0.5)
    assert len(sent(sandbox, "whatsapp", WA_ID)) == 1 and len(sent(sandbox, "whatsapp", OTHER)) == 1


async def test_verification_handshake(bot, channel_env):
    token = channel_env["WHATSAPP_VERIFY_TOKEN"]
    async with aiohttp.ClientSession() as session:
        ok = await session.get(url(bot), params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"})
        assert ok.status == 200 and await ok.text() == "1158201444"
        bad = await session.get(url(bot), params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "x"})
        assert bad.status == 403


async def test_username_user_without_phone_is_answered_by_business_scoped_id(bot, sandbox, store, channel_env):
    bsuid = "BR.1349283746512345"
    message = p.whatsapp_message("text", "", {"body": "oi, sou do Instagram"})
    del message["from"]
    message["from_user_id"] = bsuid
    contact = {"profile": {"name": "ana.souza"}, "user_id": bsuid}
    assert await post(url(bot), delivery(channel_env, [message], contacts=[contact])) == 200
    [event] = await handled(store)
    assert event["metadata"]["address"] == bsuid and event["metadata"]["profile_name"] == "ana.souza"
    [reply] = await wait_for(lambda: sent(sandbox, "whatsapp", bsuid))
    assert reply["body"]["recipient"] == bsuid and "to" not in reply["body"]
