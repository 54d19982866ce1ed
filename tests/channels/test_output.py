"""Output channels against the sandbox: windows, retries, permanent errors, human tags."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from connectors.instagram import InstagramInput
from connectors.sms import SmsInput
from connectors.webhook.config import ChannelNotConfigured
from connectors.webhook.inbox import backlog
from connectors.webhook.output import numbered
from connectors.webhook.records import held_source
from connectors.webhook.runtime import ChannelRuntime, default_resolver_factory
from connectors.whatsapp import WhatsAppInput
from threadline.crm.models import Customer
from threadline.sandbox import payloads as p
from tests.channels.conftest import BotServer, ScriptedWorker, post
from tests.channels.helpers import sent, settle
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for

WA_ID, IGSID, PHONE = "5511987654321", "1784140512345678", "+5511987654321"


@pytest.fixture
async def channels(channel_env, sandbox, monkeypatch):
    for name, value in channel_env.items():
        monkeypatch.setenv(name, value)
    made = {"whatsapp": WhatsAppInput.from_credentials(None), "instagram": InstagramInput.from_credentials(None),
            "sms": SmsInput.from_credentials(None)}
    for channel in made.values():
        channel.runtime = ChannelRuntime.open(default_resolver_factory)  # the real resolver, from the env
    yield made
    for channel in made.values():
        await channel.runtime.close()


async def customer(channel, address, last_inbound_age_s):
    """A customer known on `channel`, whose last message came `last_inbound_age_s` ago."""
    customer_id = await channel.runtime.resolver.resolve(channel.name(), address)
    if last_inbound_age_s is not None:
        await channel.runtime.records.inbound_seen(channel.name(), address, time.time() - last_inbound_age_s)
    return customer_id


async def test_whatsapp_outside_24h_holds_the_message_and_sends_the_template(channels, sandbox, store, monkeypatch):
    whatsapp = channels["whatsapp"]
    whatsapp.template_name = "order_update_followup"
    customer_id = await customer(whatsapp, WA_ID, 25 * 3600)
    await whatsapp.output_channel(None).send_text_message(customer_id, "Your order shipped.")
    [template] = [s["body"] for s in sandbox.sent]
    assert template["type"] == "template" and template["template"]["name"] == "order_update_followup"
    [(_, held)] = await store.xrange("tl:out:held")
    assert held[b"customer_id"].decode() == customer_id and b"24-hour window" in held[b"reason"]
    assert b"Your order shipped." in held[b"message"]


async def test_whatsapp_outside_24h_lets_a_follow_up_template_through_and_holds_nothing(channels, sandbox, store):
    """A follow-up's approved template (threadline/followups/messages.py) is what Meta accepts
    outside the window: it goes out as it is, no invitation template, nothing held."""
    whatsapp = channels["whatsapp"]
    whatsapp.template_name = "order_update_followup"
    customer_id = await customer(whatsapp, WA_ID, 30 * 3600)
    template = {"name": "threadline_followup_lead", "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Pulse Earbuds"}]}]}
    await whatsapp.output_channel(None).send_custom_json(customer_id, {"type": "template", "template": template})
    [sent_body] = [s["body"] for s in sandbox.sent]
    assert sent_body["type"] == "template" and sent_body["template"] == template
    assert await store.xrange("tl:out:held") == []


@pytest.fixture
async def whatsapp_with_env(channel_env, sandbox, monkeypatch):
    """WhatsAppInput.from_credentials under the test's own language settings (none from the
    machine's environment), with the real resolver; closed after the test."""
    made = []

    async def make(**settings: str) -> WhatsAppInput:
        for name in ("THREADLINE_DEFAULT_LANGUAGE", "WHATSAPP_TEMPLATE_LANGUAGE", "WHATSAPP_TEMPLATE_LANGUAGE_PT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {**channel_env, "WHATSAPP_TEMPLATE_NAME": "order_update_followup", **settings}.items():
            monkeypatch.setenv(name, value)
        whatsapp = WhatsAppInput.from_credentials(None)
        whatsapp.runtime = ChannelRuntime.open(default_resolver_factory)
        made.append(whatsapp)
        return whatsapp

    yield make
    for whatsapp in made:
        await whatsapp.runtime.close()


async def invite(whatsapp, sandbox, language_of_customer):
    """Hold a message for customers out of the window, each with that CRM language (None: never
    confirmed, as the bot leaves a THREADLINE_DEFAULT_LANGUAGE guess); the invitations' bodies."""
    for number, language in enumerate(language_of_customer):
        customer_id = await customer(whatsapp, f"55119876500{number:02d}", 25 * 3600)
        await whatsapp.runtime.resolver.db.run(
            lambda s, c=customer_id, lang=language: setattr(s.get(Customer, c), "language", lang))
        await whatsapp.output_channel(None).send_text_message(customer_id, "Your order shipped.")
    return [(s["body"]["to"], s["body"]["template"]) for s in sandbox.sent]


def template(code):
    return {"name": "order_update_followup", "language": {"code": code}}


async def test_the_invitation_template_goes_out_in_the_customers_language_else_the_business_default(
        whatsapp_with_env, sandbox):
    whatsapp = await whatsapp_with_env()  # THREADLINE_DEFAULT_LANGUAGE unset: Portuguese
    assert await invite(whatsapp, sandbox, ["pt", "en", None]) == [
        ("5511987650000", template("pt_BR")), ("5511987650001", template("en")),
        ("5511987650002", template("pt_BR"))]


async def test_a_customer_of_unknown_language_gets_the_configured_default_and_codes(whatsapp_with_env, sandbox):
    whatsapp = await whatsapp_with_env(THREADLINE_DEFAULT_LANGUAGE="en", WHATSAPP_TEMPLATE_LANGUAGE="en_US",
                                       WHATSAPP_TEMPLATE_LANGUAGE_PT="pt_PT")
    # "es": a language we do not speak (an agent's typo, an older record) is not a template code.
    assert await invite(whatsapp, sandbox, [None, "pt", "es"]) == [
        ("5511987650000", template("en_US")), ("5511987650001", template("pt_PT")),
        ("5511987650002", template("en_US"))]


@pytest.mark.parametrize("variable, code", [("WHATSAPP_TEMPLATE_LANGUAGE_PT", "pt"),
                                            ("WHATSAPP_TEMPLATE_LANGUAGE_PT", "pt-BR"),
                                            ("WHATSAPP_TEMPLATE_LANGUAGE", "pt_BR")])
async def test_a_template_code_meta_has_not_for_that_language_refuses_to_start(whatsapp_with_env, variable, code):
    with pytest.raises(ChannelNotConfigured, match=f"{variable} must be Meta's code .* not '{code}'"):
        await whatsapp_with_env(**{variable: code})


async def test_whatsapp_inside_window_sends_via_the_customers_address(channels, sandbox):
    customer_id = await customer(channels["whatsapp"], WA_ID, 3600)
    await channels["whatsapp"].output_channel(None).send_text_message(customer_id, "Hi again")
    assert [s["body"]["to"] for s in sandbox.sent] == [WA_ID]


async def test_rate_limits_and_5xx_are_retried_then_delivered(channels, sandbox, store):
    whatsapp = channels["whatsapp"]
    sandbox.faults["whatsapp"].extend([
        (429, {"error": {"code": 130429, "message": "Rate limit hit"}}),
        (400, {"error": {"code": 131056, "message": "Pair rate limit"}}),
        (503, {"error": {"code": 2, "message": "Service temporarily unavailable"}}),
    ])
    customer_id = await customer(whatsapp, WA_ID, 60)
    started = time.monotonic()
    await whatsapp.output_channel(WA_ID).send_text_message(customer_id, "eventually")
    assert [s["body"]["text"]["body"] for s in sandbox.sent] == ["eventually"]
    assert time.monotonic() - started >= 0.5 * 0.8 * (1 + 2 + 4)  # backoff 0.5 s, 1 s, 2 s (±20 %)
    record = await whatsapp.runtime.records.message("whatsapp", sandbox.sent[0]["id"])
    assert record["customer_id"] == customer_id


async def test_permanent_errors_are_recorded_not_retried(channels, sandbox, store):
    whatsapp = channels["whatsapp"]
    sandbox.faults["whatsapp"].extend([(400, {"error": {"code": 131026, "message": "Message undeliverable"}}),
                                       (500, {"error": {"code": 1}})])
    customer_id = await customer(whatsapp, WA_ID, 60)
    await whatsapp.output_channel(WA_ID).send_text_message(customer_id, "lost")
    [(_, failure)] = await store.xrange("tl:out:failed")
    assert failure[b"code"] == b"131026" and failure[b"customer_id"].decode() == customer_id
    assert len(sandbox.faults["whatsapp"]) == 1  # the second fault was never consumed: no retry
    assert sandbox.sent == []


async def test_instagram_human_agent_tag_only_for_people_and_only_when_needed(channels, sandbox, store):
    instagram = channels["instagram"]
    customer_id = await customer(instagram, IGSID, 3 * 24 * 3600)
    await instagram.output_channel(None).send_text_message(customer_id, "bot after 3 days")
    await instagram.output_channel(None).send_text_message(customer_id, "agent after 3 days", sent_by="agent")
    assert [(s["body"]["message"]["text"], s["body"].get("tag")) for s in sandbox.sent] == [("agent after 3 days", "HUMAN_AGENT")]
    assert len(await store.xrange("tl:out:held")) == 1
    await customer(instagram, IGSID, 60)
    await instagram.output_channel(None).send_text_message(customer_id, "agent, fresh window", sent_by="agent")
    assert sandbox.sent[-1]["body"]["messaging_type"] == "RESPONSE" and "tag" not in sandbox.sent[-1]["body"]
    await customer(instagram, IGSID, 8 * 24 * 3600)
    await instagram.output_channel(None).send_text_message(customer_id, "too late", sent_by="agent")
    assert len(sandbox.sent) == 2


async def test_sms_recipient_opted_out_at_twilio_is_remembered(channels, sandbox, store):
    sms = channels["sms"]
    sandbox.faults["sms"].append((400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}))
    customer_id = await customer(sms, PHONE, None)
    await sms.output_channel(PHONE).send_text_message(customer_id, "first")
    assert await store.sismember("tl:out:optout:sms", PHONE)
    await sms.output_channel(PHONE).send_text_message(customer_id, "second")
    assert sandbox.sent == []


async def test_a_tracked_message_records_why_it_did_not_reach_the_customer(channels, sandbox, store):
    """A sender's `delivery_ref` (the follow-up worker's) gets the reason back: the provider
    refusing it, the channel holding it, a failed receipt after the provider accepted it."""
    from connectors.webhook.events import InboundEvent

    sms, whatsapp = channels["sms"], channels["whatsapp"]
    records = sms.runtime.records
    sandbox.faults["sms"].append((400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}))
    customer_id = await customer(sms, PHONE, None)
    await sms.output_channel(PHONE).send_text_message(customer_id, "first", delivery_ref="followup:1:a")
    assert await records.refusal("followup:1:a") == "provider_refused:21610"
    await sms.output_channel(PHONE).send_text_message(customer_id, "second", delivery_ref="followup:2:b")
    assert await records.refusal("followup:2:b") == "held: sms recipient opted out (STOP)"
    wa_customer = await customer(whatsapp, WA_ID, 60)
    await whatsapp.output_channel(None).send_text_message(wa_customer, "third", delivery_ref="followup:3:c")
    assert await records.refusal("followup:3:c") is None
    [accepted] = [s for s in sandbox.sent if s["channel"] == "whatsapp"]
    await records.delivery_status(InboundEvent(channel="whatsapp", kind="status", event_id="st-1", address=WA_ID,
                                               target_message_id=accepted["id"], status="failed",
                                               errors=[{"code": 131026, "title": "Message undeliverable"}]))
    assert await records.refusal("followup:3:c") == "provider_failed:131026"
    assert sandbox.sent == [accepted]


async def test_customer_without_address_on_a_channel_is_recorded(channels, sandbox, store):
    await channels["sms"].output_channel(None).send_text_message("cus_unknown", "hello")
    [(_, failure)] = await store.xrange("tl:out:failed")
    assert failure[b"code"] == b"no_address"


async def test_held_whatsapp_messages_go_out_in_order_when_the_customer_writes_again(
        bot, channels, sandbox, store, channel_env):
    whatsapp = channels["whatsapp"]
    customer_id = await customer(whatsapp, WA_ID, 25 * 3600)  # window closed
    await whatsapp.output_channel(None).send_text_message(customer_id, "Your order shipped.")
    await whatsapp.output_channel(None).send_text_with_buttons(customer_id, "Was it on time?", [
        {"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}])
    assert sandbox.sent == []
    held_entries = [entry_id.decode() for entry_id, _ in await store.xrange("tl:out:held")]
    assert len(held_entries) == 2

    message = p.whatsapp_message("text", WA_ID, {"body": "oi, voltei"})
    envelope = p.whatsapp_envelope(channel_env["WHATSAPP_PHONE_NUMBER_ID"], [message],
                                   contacts=[p.whatsapp_contact(WA_ID, "Ana")])
    assert await post(f"{bot.base}/whatsapp/webhook", p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)) == 200
    replies = await wait_for(lambda: len(sent(sandbox, "whatsapp", WA_ID)) >= 3 and sent(sandbox, "whatsapp", WA_ID))
    assert replies[0]["body"]["text"]["body"] == "Your order shipped."
    assert replies[1]["body"]["interactive"]["body"]["text"] == "Was it on time?"
    assert replies[2]["body"]["text"]["body"] == "You said: oi, voltei"  # the new answer comes after them
    # The customer sees blue ticks on the message the bot answered.
    assert [r["message_id"] for r in sandbox.reads] == [message["id"]]

    marked = await store.hgetall("tl:out:held:sent")
    assert {k.decode() for k in marked} == set(held_entries)
    assert json.loads(marked[held_entries[0].encode()])["provider_ids"] == [replies[0]["id"]]
    assert await store.llen(f"tl:out:held:whatsapp:{WA_ID}") == 0

    again = p.whatsapp_message("text", WA_ID, {"body": "obrigada"})
    envelope = p.whatsapp_envelope(channel_env["WHATSAPP_PHONE_NUMBER_ID"], [again])
    assert await post(f"{bot.base}/whatsapp/webhook", p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)) == 200
    later = await wait_for(lambda: len(sent(sandbox, "whatsapp", WA_ID)) >= 4 and sent(sandbox, "whatsapp", WA_ID))
    await settle(store, 0.5)
    assert [r["body"].get("text", {}).get("body") for r in sent(sandbox, "whatsapp", WA_ID)[3:]] == ["You said: obrigada"]
    assert len(later) == 4


async def test_an_sms_held_for_opt_out_is_not_sent_when_the_customer_writes(bot, channels, sandbox, store, channel_env):
    sms = channels["sms"]
    customer_id = await customer(sms, PHONE, None)
    await store.sadd("tl:out:optout:sms", PHONE)
    await sms.output_channel(PHONE).send_text_message(customer_id, "promo you did not want")
    await store.srem("tl:out:optout:sms", PHONE)  # START
    params = p.twilio_inbound(channel_env["TWILIO_ACCOUNT_SID"], PHONE, channel_env["TWILIO_FROM_NUMBER"], "oi")
    delivery = p.twilio_delivery(channel_env["TWILIO_AUTH_TOKEN"], channel_env["TWILIO_WEBHOOK_URL"], params)
    assert await post(f"{bot.base}/sms/webhook", delivery) == 200
    [reply] = await wait_for(lambda: sent(sandbox, "sms", PHONE))
    await settle(store, 0.5)
    assert reply["body"]["Body"] == "You said: oi" and len(sent(sandbox, "sms", PHONE)) == 1


# --- exactly-once sends and held messages --------------------------------------------------

def texts(sandbox, to=WA_ID):
    return [s["body"].get("text", {}).get("body") or s["body"]["type"] for s in sent(sandbox, "whatsapp", to)]


async def answer(output, customer_id, replies):
    """What a bot turn does with its output channel: each reply in order."""
    for reply in replies:
        await output.send_text_message(customer_id, reply)


async def test_a_replayed_turn_never_sends_what_the_provider_confirmed(channels, sandbox, store):
    whatsapp = channels["whatsapp"]
    customer_id = await customer(whatsapp, WA_ID, 60)
    long_answer = "Your order. " * 500  # two WhatsApp messages
    replies = ["Hello Ana", long_answer, "Anything else?"]
    # The first run dies after its first message went out...
    await answer(whatsapp.output_channel(WA_ID).for_turn("whatsapp:wamid.IN1"), customer_id, replies[:1])
    # ...the replay (a new output for the same inbound event) sends the rest, in order, once.
    await answer(whatsapp.output_channel(WA_ID).for_turn("whatsapp:wamid.IN1"), customer_id, replies)
    assert len(texts(sandbox)) == 4
    assert texts(sandbox)[0] == "Hello Ana" and texts(sandbox)[-1] == "Anything else?"
    # A third run finds every position confirmed: the provider gets nothing more.
    await answer(whatsapp.output_channel(WA_ID).for_turn("whatsapp:wamid.IN1"), customer_id, replies)
    assert len(texts(sandbox)) == 4
    # Another inbound event's turn is its own: the same words go out again.
    await answer(whatsapp.output_channel(WA_ID).for_turn("whatsapp:wamid.IN2"), customer_id, replies[:1])
    assert texts(sandbox)[-1] == "Hello Ana" and len(texts(sandbox)) == 5
    records = await store.keys("tl:out:sends:*")
    assert sorted(k.decode() for k in records) == [f"tl:out:sends:{customer_id}:turn:whatsapp:wamid.IN1",
                                                   f"tl:out:sends:{customer_id}:turn:whatsapp:wamid.IN2"]
    assert all([7 * 24 * 3600 < await store.ttl(k) <= 8 * 24 * 3600 for k in records])


async def test_a_failed_send_is_tried_again_by_the_replay_and_agent_messages_have_no_records(channels, sandbox, store):
    whatsapp = channels["whatsapp"]
    customer_id = await customer(whatsapp, WA_ID, 60)
    sandbox.faults["whatsapp"].append((400, {"error": {"code": 131026, "message": "Message undeliverable"}}))
    await answer(whatsapp.output_channel(WA_ID).for_turn("whatsapp:wamid.F"), customer_id, ["first try"])
    assert texts(sandbox) == []
    await answer(whatsapp.output_channel(WA_ID).for_turn("whatsapp:wamid.F"), customer_id, ["first try"])
    assert texts(sandbox) == ["first try"]
    # Outside a turn (an agent through Rasa's HTTP API) each call is a new message.
    for _ in range(2):
        await whatsapp.output_channel(None).send_text_message(customer_id, "from Carla", sent_by="agent")
    assert texts(sandbox) == ["first try", "from Carla", "from Carla"]


async def test_one_template_per_held_batch_and_each_held_message_keeps_its_content(channels, sandbox, store):
    whatsapp = channels["whatsapp"]
    whatsapp.template_name = "order_update_followup"
    customer_id = await customer(whatsapp, WA_ID, 25 * 3600)
    turn = whatsapp.output_channel(None)
    for text in ("Your order shipped.", "It arrives Friday.", "Anything else?"):
        await turn.send_text_message(customer_id, text)
    assert texts(sandbox) == ["template"]  # one invitation for the three
    queued = await channels["whatsapp"].runtime.records.held_messages("whatsapp", WA_ID)
    assert [h["message"]["text"] for h in queued] == ["Your order shipped.", "It arrives Friday.", "Anything else?"]

    await customer(whatsapp, WA_ID, 25 * 3600 - 1)  # the customer wrote (an old message): a new batch
    await whatsapp.output_channel(None).send_text_message(customer_id, "One more thing.")
    assert texts(sandbox) == ["template", "template"]


async def test_meta_refusing_for_the_window_holds_the_message_itself_and_it_goes_out_later(channels, sandbox, store):
    whatsapp = channels["whatsapp"]
    customer_id = await customer(whatsapp, WA_ID, 3600)  # our record says open, Meta's clock says closed
    sandbox.faults["whatsapp"].append((400, {"error": {"code": 131047, "message": "Re-engagement message"}}))
    await whatsapp.output_channel(WA_ID).for_turn("whatsapp:wamid.R").send_text_message(customer_id, "Your refund is done.")
    [(_, held)] = await store.xrange("tl:out:held")
    assert json.loads(held[b"message"]) == {"text": "Your refund is done."}
    assert await store.xlen("tl:out:failed") == 0
    # A replay of that turn does not hold it twice.
    await whatsapp.output_channel(WA_ID).for_turn("whatsapp:wamid.R").send_text_message(customer_id, "Your refund is done.")
    assert await store.xlen("tl:out:held") == 1 and texts(sandbox) == []

    assert await whatsapp.output_channel(WA_ID).send_held(customer_id) == 1  # the customer wrote again
    assert texts(sandbox) == ["Your refund is done."]


async def test_two_workers_sending_the_held_messages_at_once_send_each_once(channels, sandbox, store, channel_env):
    from connectors.webhook.channel import send_held_under_lock

    whatsapp = channels["whatsapp"]
    customer_id = await customer(whatsapp, WA_ID, 25 * 3600)
    for text in ("held one", "held two", "held three"):
        await whatsapp.output_channel(None).send_text_message(customer_id, text)
    await customer(whatsapp, WA_ID, 1)  # the customer writes; two workers see it (a replay)
    runtimes = [ChannelRuntime.open(default_resolver_factory) for _ in range(2)]
    try:
        await asyncio.gather(*(send_held_under_lock(whatsapp.output_channel(WA_ID, runtime), customer_id,
                                                    channel_env["REDIS_URL"]) for runtime in runtimes))
    finally:
        for runtime in runtimes:
            await runtime.close()
    assert texts(sandbox) == ["held one", "held two", "held three"]
    assert await store.llen(f"tl:out:held:whatsapp:{WA_ID}") == 0


async def test_held_messages_sent_without_the_lock_are_still_sent_once(channels, sandbox, store):
    """A held message whose send was confirmed is not sent again, even if it is still queued
    (the process died between the provider's answer and taking it off the queue)."""
    whatsapp = channels["whatsapp"]
    customer_id = await customer(whatsapp, WA_ID, 25 * 3600)
    await whatsapp.output_channel(None).send_text_message(customer_id, "held once")
    [held] = await whatsapp.runtime.records.held_messages("whatsapp", WA_ID)
    await customer(whatsapp, WA_ID, 1)
    output = whatsapp.output_channel(WA_ID)
    await output._send_now(customer_id, WA_ID, held["message"], {}, numbered(held_source(held["entry_id"])))
    assert texts(sandbox) == ["held once"]  # sent; the queue still has it (as after a crash)
    assert await whatsapp.output_channel(WA_ID).send_held(customer_id) == 1
    assert texts(sandbox) == ["held once"]
    assert await store.llen(f"tl:out:held:whatsapp:{WA_ID}") == 0


async def test_held_messages_go_out_once_in_order_with_two_inbox_workers(channels, sandbox, store, channel_env, tmp_path):
    """What `make run` runs: the edge stores, two inbox worker processes answer."""
    whatsapp = channels["whatsapp"]
    whatsapp.template_name = "order_update_followup"
    customer_id = await customer(whatsapp, WA_ID, 25 * 3600)
    for text in ("Your order shipped.", "It arrives Friday."):
        await whatsapp.output_channel(None).send_text_message(customer_id, text)
    assert texts(sandbox) == ["template"]  # one invitation for the batch

    edge = BotServer(channel_env, tmp_path / "edge.log")
    workers = [ScriptedWorker({**channel_env, "THREADLINE_INBOX_WORKER_PORT": str(free_port())},
                              tmp_path / f"worker{n}.log") for n in range(2)]
    edge.start()
    try:
        for n, worker in enumerate(workers):
            worker.start(THREADLINE_INBOX_CONSUMER=f"worker-{n}")
        messages = [p.whatsapp_message("text", WA_ID, {"body": body}) for body in ("oi", "voltei")]
        envelope = p.whatsapp_envelope(channel_env["WHATSAPP_PHONE_NUMBER_ID"], messages,
                                       contacts=[p.whatsapp_contact(WA_ID, "Ana")])
        assert await post(f"{edge.base}/whatsapp/webhook", p.meta_delivery(channel_env["WHATSAPP_APP_SECRET"], envelope)) == 200
        await wait_for(lambda: len(texts(sandbox)) >= 5, timeout=30)
        await wait_for(lambda: _inbox_drained(store), timeout=20)
    finally:
        for worker in workers:
            worker.stop()
        edge.stop()
    assert texts(sandbox)[1:3] == ["Your order shipped.", "It arrives Friday."]  # first, once each
    assert sorted(texts(sandbox)[3:]) == ["You said: oi", "You said: voltei"]
    assert await store.llen(f"tl:out:held:whatsapp:{WA_ID}") == 0


async def _inbox_drained(store) -> bool:
    leased = await store.hlen("tl:inbox:whatsapp:owners")
    return leased == 0 and await backlog(store, "whatsapp") == 0
