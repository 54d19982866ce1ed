"""Instagram: realistic deliveries through the real connector, replies through the sandbox."""
from __future__ import annotations

import asyncio

from threadline.sandbox import payloads as p
from tests.channels.conftest import post
from tests.support.waiting import wait_for
from tests.channels.helpers import activity, handled, sent, settle

IGSID = "1784140512345678"


def delivery(env, *events):
    account = env["INSTAGRAM_ACCOUNT_ID"]
    items = [p.instagram_item(IGSID, account, **event) for event in events]
    return p.meta_delivery(env["INSTAGRAM_APP_SECRET"], p.instagram_envelope(account, items))


def url(bot):
    return f"{bot.base}/instagram/webhook"


async def test_text_reply_and_echo_is_never_fed_to_the_bot(bot, sandbox, store, identity, channel_env):
    assert await post(url(bot), delivery(channel_env, {"message": {"mid": p.new_ig_mid(), "text": "Vocês entregam em Manaus?"}})) == 200
    [event] = await handled(store)
    assert event["text"] == "Vocês entregam em Manaus?" and event["metadata"]["address"] == IGSID
    reply = (await wait_for(lambda: sent(sandbox, "instagram", IGSID)))[0]["body"]
    assert reply["recipient"] == {"id": IGSID} and reply["messaging_type"] == "RESPONSE"
    # The sandbox echoes our reply back as Meta does; it is recorded, never handled.
    echoes = await wait_for(lambda: _echoes(identity, store))
    assert echoes[0].text == "You said: Vocês entregam em Manaus?"
    assert len(await settle(store, 0.5)) == 1


async def _echoes(identity, store):
    return [e for e in await activity(identity, store, "instagram", IGSID) if e.kind == "echo"]


async def test_batched_entries_quick_replies_postbacks_and_media(bot, sandbox, store, channel_env):
    account = channel_env["INSTAGRAM_ACCOUNT_ID"]
    entry_one = [p.instagram_item(IGSID, account, message={"mid": p.new_ig_mid(), "text": "Sim", "quick_reply": {"payload": "/affirm"}}),
                 p.instagram_item(IGSID, account, postback={"mid": p.new_ig_mid(), "title": "Track order", "payload": "/track_order"})]
    entry_two = [p.instagram_item(IGSID, account, message={"mid": p.new_ig_mid(), "attachments": [{"type": "image", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}]}),
                 p.instagram_item(IGSID, account, message={"mid": p.new_ig_mid(), "attachments": [{"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/story/2"}}]}),
                 p.instagram_item(IGSID, account, message={"mid": p.new_ig_mid(), "text": "Linda essa bolsa!", "reply_to": {"story": {"url": "https://lookaside.fbsbx.com/story/3", "id": "17900000000000003"}}}),
                 p.instagram_item(IGSID, account, message={"mid": p.new_ig_mid(), "text": "vi o anúncio", "referral": {"ref": "summer", "source": "ADS", "type": "OPEN_THREAD"}})]
    envelope = p.instagram_envelope(account, entry_one)
    envelope["entry"].append(p.instagram_envelope(account, entry_two)["entry"][0])
    assert await post(url(bot), p.meta_delivery(channel_env["INSTAGRAM_APP_SECRET"], envelope)) == 200
    events = await handled(store, 6)
    # Never offered by the bot: the quick reply and the postback are read as their words.
    assert [e["text"] for e in events] == ["Sim", "Track order", "/share_media", "/share_media",
                                           "Linda essa bolsa!", "vi o anúncio"]
    assert events[2]["metadata"]["media"][0]["url"].endswith("asset_id=1")
    assert events[3]["metadata"]["message_type"] == "story_mention"
    assert events[4]["metadata"]["reply_to"]["story"]["id"] == "17900000000000003"
    assert events[5]["metadata"]["referral"]["ref"] == "summer"


async def test_reactions_reads_deletes_recorded_unsupported_answered(bot, sandbox, store, identity, channel_env):
    await post(url(bot), delivery(channel_env,
                                  {"reaction": {"mid": "m_OURS", "action": "react", "reaction": "love", "emoji": "❤"}},
                                  {"reaction": {"mid": "m_OURS", "action": "unreact"}},
                                  {"read": {"mid": "m_OURS"}},
                                  {"message": {"mid": "m_THEIRS", "is_deleted": True}},
                                  {"message": {"mid": p.new_ig_mid(), "is_unsupported": True}}))
    [event] = await handled(store)
    assert event["text"] == "/unsupported_message"
    recorded = await wait_for(lambda: _kinds(identity, store, 4))
    assert recorded == ["reaction", "reaction", "read", "delete"]
    await asyncio.sleep(0.5)
    assert len(sent(sandbox, "instagram", IGSID)) == 1  # only the polite answer


async def _kinds(identity, store, count):
    kinds = [e.kind for e in await activity(identity, store, "instagram", IGSID) if e.kind != "echo"]
    return kinds if len(kinds) >= count else None


async def test_quick_replies_native_up_to_13_and_text_split_at_1000_bytes(bot, sandbox, store, channel_env):
    for text in ("menu 13", "menu 14", "long"):
        await post(url(bot), delivery(channel_env, {"message": {"mid": p.new_ig_mid(), "text": text}}))
        await handled(store, {"menu 13": 1, "menu 14": 2, "long": 3}[text])
    bodies = [s["body"]["message"] for s in await wait_for(lambda: len(sent(sandbox, "instagram", IGSID)) >= 10 and sent(sandbox, "instagram", IGSID))]
    assert len(bodies[0]["quick_replies"]) == 13
    assert "quick_replies" not in bodies[1] and "14. Option 14" in bodies[1]["text"]
    parts = [b["text"] for b in bodies[2:]]
    assert all(len(t.encode()) <= 1000 for t in parts) and all(t.endswith("order.") for t in parts)
    await post(url(bot), delivery(channel_env, {"message": {"mid": p.new_ig_mid(), "text": "14"}}))
    assert (await handled(store, 4))[3]["text"] == '/choose{"n":14}'


async def test_same_delivery_three_times_concurrently_one_event(bot, sandbox, store, channel_env):
    same = delivery(channel_env, {"message": {"mid": p.new_ig_mid(), "text": "only once"}})
    assert await asyncio.gather(*(post(url(bot), same) for _ in range(3))) == [200, 200, 200]
    assert [await post(url(bot), same) for _ in range(2)] == [200, 200]
    await handled(store)
    assert len(await settle(store, 1.0)) == 1
    assert len(sent(sandbox, "instagram", IGSID)) == 1
