"""Smaller doors: markup in team notifications, unbounded Redis keys, clear-text mail servers."""
from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from connectors.email.channel import EmailInput
from connectors.webhook.config import ChannelNotConfigured
from connectors.webhook.events import InboundEvent
from connectors.webhook.inbox import Inbox, InboxConsumer, backlog
from connectors.webhook.records import HELD_TTL_S, ChannelRecords
from tests.support.waiting import wait_for
from threadline.handoff import notify

# What a customer might type to reach the whole team or disguise a link in Slack or Teams.
HOSTILE = "<!channel> <!here> <@U024BE7LH> <https://evil.example|your order> & more"


@pytest.fixture
async def team_webhook():
    received = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/hook")), received
    await server.close()


async def test_customer_text_in_a_handoff_notification_cannot_mention_the_team_or_hide_a_link(
        team_webhook, monkeypatch):
    url, received = team_webhook
    monkeypatch.setenv("HANDOFF_WEBHOOK_URL", url)
    monkeypatch.setenv("HANDOFF_CONSOLE_URL", "https://console.example.com")
    await notify.notify_new_handoff("hof_1", f"The customer wrote: {HOSTILE}")
    [posted] = received
    text = posted["text"]
    assert "<" not in text.split("\n")[0] and ">" not in text.split("\n")[0]
    assert text == ("New handoff: The customer wrote: &lt;!channel&gt; &lt;!here&gt; &lt;@U024BE7LH&gt; "
                    "&lt;https://evil.example|your order&gt; &amp; more\nhttps://console.example.com/handoffs/hof_1")
    # Entities the customer typed are shown as typed, not turned into markup.
    await notify.notify_new_handoff("hof_2", "&lt;!channel&gt;")
    assert received[1]["text"].startswith("New handoff: &amp;lt;!channel&amp;gt;\n")


async def test_a_flood_of_poison_messages_never_grows_the_dead_letter_stream_past_its_cap(redis_url, caplog):
    redis = Redis.from_url(redis_url)
    inbox = Inbox(redis, "test", dedupe_ttl_s=60)
    handled = []

    async def handler(event: InboundEvent) -> None:
        if event.text == "poison":
            raise ValueError("cannot handle this one")
        handled.append(event.event_id)

    consumer = InboxConsumer(redis, "test", "c1", handler, max_attempts=1, max_in_flight=64,
                             dead_letter_maxlen=100)
    poison = [InboundEvent(channel="test", kind="message", event_id=f"p{n}", address=f"a{n}", text="poison")
              for n in range(1000)]
    assert await inbox.accept(poison) == 1000
    runner = asyncio.create_task(consumer.run())
    try:
        await wait_for(lambda: _drained(redis), timeout=60)
        good = InboundEvent(channel="test", kind="message", event_id="ok", address="b", text="hello")
        await inbox.accept([good])
        await wait_for(lambda: handled == ["ok"], timeout=10)  # everyone else is still answered
        dead = await redis.xlen("tl:inbox:test:dead")
        assert 100 <= dead <= 100 + 100  # approximate trimming works in whole stream nodes (100 entries)
        kept = {InboundEvent.from_json(fields[b"event"]).event_id
                for _, fields in await redis.xrange("tl:inbox:test:dead")}
        assert "p999" in kept and "p0" not in kept  # the oldest go first (64 run at a time, in any order)
        failures = [r.getMessage() for r in caplog.records if "failed (attempt 1/1)" in r.getMessage()]
        assert len(failures) == 1000 and not any("poison" in line for line in failures)
    finally:
        await consumer.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await redis.close()


async def _drained(redis: Redis) -> bool:
    return await backlog(redis, "test") == 0


async def test_the_record_of_held_messages_sent_later_expires(redis_url):
    redis = Redis.from_url(redis_url)
    records = ChannelRecords(redis)
    try:
        entry = await records.held("whatsapp", "cus_1", "5511987654321", "window closed",
                                   {"text": "Your order shipped."}, send_later=True)
        [held] = await records.held_messages("whatsapp", "5511987654321")
        assert held["entry_id"] == entry
        await records.held_sent("whatsapp", "5511987654321", held, ["wamid.1"])
        assert await redis.hexists("tl:out:held:sent", entry)
        assert 0 < await redis.ttl("tl:out:held:sent") <= HELD_TTL_S
    finally:
        await redis.close()


@pytest.mark.parametrize("server, host", [("IMAP", "192.0.2.10"), ("SMTP", "mail.example.com"),
                                          ("SMTP", "no-such-host.invalid")])
def test_clear_text_mail_to_a_server_off_loopback_refuses_to_start(monkeypatch, server, host):
    for name in ("EMAIL_IMAP_PORT", "EMAIL_SMTP_PORT", "EMAIL_MAILGUN_SIGNING_KEY", "EMAIL_IMAP_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EMAIL_ADDRESS", "shop@example.com")
    monkeypatch.setenv("EMAIL_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_IMAP_PASSWORD", "imap-secret")
    monkeypatch.setenv("EMAIL_IMAP_SECURITY", "none")
    monkeypatch.setenv("EMAIL_SMTP_SECURITY", "none")
    EmailInput.from_credentials(None)  # both on loopback: the tests' and local relays' case
    monkeypatch.setenv(f"EMAIL_{server}_HOST", host)
    with pytest.raises(ChannelNotConfigured) as refused:
        EmailInput.from_credentials(None)  # what the Rasa server does at start-up
    assert str(refused.value) == (f"email: EMAIL_{server}_SECURITY=none is only for a server on loopback, and "
                                  f"EMAIL_{server}_HOST is {host}; use ssl or starttls")
    assert "imap-secret" not in str(refused.value)
    monkeypatch.setenv(f"EMAIL_{server}_SECURITY", "starttls")
    EmailInput.from_credentials(None)  # with TLS it starts
