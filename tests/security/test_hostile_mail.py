"""Hostile mail: a mail that cannot be parsed, or is too big, or is built to make a parser
slow, is quarantined or processed in bounded time, and the channel goes on answering.

Through the code path `make run` uses: the real IMAP reader of `EmailInput` against a real
Dovecot, the real inbox on a private Redis, replies over real SMTP (the scripted bot stands
in for Rasa, as in tests/email_channel).
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from dataclasses import replace
from typing import List

import pytest
from aioimaplib import aioimaplib
from hypothesis import HealthCheck, given, settings, strategies as st
from redis.asyncio import Redis

from connectors.email.channel import EmailInput
from connectors.email.config import EmailSettings, ServerSettings
from connectors.email.html import html_to_text
from connectors.email.imap import QUARANTINE_FLAG
from connectors.email.message import UnparseableMail, parse_email
from connectors.email.state import EmailState
from connectors.email.text import new_text
from tests.email_channel.conftest import (  # noqa: F401  (fixtures)
    SHOP, ScriptedBot, dovecot, email_env, mail, mailbox, outbox, settings_for, smtp_server,
)
from tests.support.hostile_mail import CASES, measure
from tests.support.waiting import wait_for
from threadline.cli.main import main as threadline_cli

BODY_MARKER = "CONFIDENTIAL-BODY-7731"
POISON = (b"From: =?utf-8?q?Ana=0D=0ABcc=3A_victim@example.com?= <ana@example.com>\r\n"
          b"To: shop@example.com\r\nSubject: pedido\r\nMessage-ID: <poison@x>\r\n\r\n"
          + BODY_MARKER.encode() + b"\r\n")


def flags_of(dovecot, mailbox: str) -> dict:
    """UID → flags, as any IMAP client sees them (the mail is still there)."""
    client = dovecot.client()
    try:
        client.select(mailbox)
        _, data = client.uid("fetch", "1:*", "(FLAGS)")
    finally:
        client.logout()
    found = {}
    for line in data:
        text = line.decode() if isinstance(line, bytes) else ""
        uid = re.search(r"UID (\d+)", text)
        if uid:
            found[int(uid.group(1))] = re.search(r"FLAGS \(([^)]*)\)", text).group(1).split()
    return found


def quarantine_lines(caplog) -> List[logging.LogRecord]:
    return [r for r in caplog.records if "quarantined" in r.getMessage()]


def assert_no_content_logged(caplog, *fragments: str) -> None:
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for fragment in fragments:
        assert fragment not in logged


async def start_channel(dovecot, smtp_server, mailbox, bot, **changes) -> EmailInput:
    controller, _ = smtp_server
    channel = EmailInput(replace(settings_for(dovecot, controller.port, mailbox), **changes),
                         idle_s=2, send_retry_delays_s=(0.2,))
    await channel.start(bot, lambda: True)
    # The inbox worker's side, on this loop: the channel's server side only stores the mail.
    channel.consuming = asyncio.create_task(channel.consume(bot, lambda: True))
    await asyncio.wait_for(channel.reader.connected.wait(), 15)
    return channel


async def stop_channel(channel: EmailInput) -> None:
    await channel.stop_consuming()
    await asyncio.gather(channel.consuming, return_exceptions=True)
    await channel.stop()


async def test_unparseable_mail_is_quarantined_and_the_next_mail_answered(
        dovecot, smtp_server, mailbox, outbox, email_env, caplog):
    caplog.set_level(logging.INFO)
    dovecot.deliver(POISON, mailbox)
    dovecot.deliver(bytes(mail("Bia <bia@example.com>", "Entrega", "Qual o prazo?", message_id="<ok@x>")), mailbox)
    bot = ScriptedBot()
    channel = await start_channel(dovecot, smtp_server, mailbox, bot)
    try:
        reply = (await wait_for(lambda: outbox, timeout=30))[0]
    finally:
        await stop_channel(channel)
    assert reply["To"].addresses[0].addr_spec == "bia@example.com" and [m.text for m in bot.handled] == ["Qual o prazo?"]
    flags = flags_of(dovecot, mailbox)
    assert QUARANTINE_FLAG in flags[1] and "$Threadline" not in flags[1]  # kept, flagged, not deleted
    assert "$Threadline" in flags[2]
    [line] = quarantine_lines(caplog)
    assert "UID 1" in line.getMessage() and "parser failed (ValueError)" in line.getMessage()
    assert_no_content_logged(caplog, BODY_MARKER, "victim@example.com", "Bcc")

    redis = Redis.from_url(email_env)
    quarantined = await EmailState(redis).quarantined()
    await redis.close()
    assert quarantined["total"] == 1 and quarantined["recent"][0]["uid"] == 1


async def test_threadline_info_counts_quarantined_mail(email_env, capsys):
    redis = Redis.from_url(email_env)
    await EmailState(redis).quarantine("shop@imap:993/INBOX", 7, 12_000_000, "larger than EMAIL_MAX_BYTES (10000000)")
    await redis.close()
    assert await asyncio.to_thread(threadline_cli, ["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["quarantined_mail"]
    assert info["total"] == 1 and info["by_source"] == {"shop@imap:993/INBOX": 1}
    assert info["recent"][0]["uid"] == 7 and info["recent"][0]["reason"].startswith("larger than")


async def test_oversized_mail_is_quarantined_without_being_fetched(
        dovecot, smtp_server, mailbox, outbox, email_env, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    commands: List[tuple] = []
    original = aioimaplib.IMAP4.uid

    async def recording(self, command, *args, **kwargs):
        commands.append((command, *args))
        return await original(self, command, *args, **kwargs)

    monkeypatch.setattr(aioimaplib.IMAP4, "uid", recording)
    dovecot.deliver(bytes(mail("ana@example.com", "fotos", BODY_MARKER + "x" * 20_000, message_id="<big@x>")), mailbox)
    dovecot.deliver(bytes(mail("bia@example.com", "oi", "Tem loja em Recife?", message_id="<small@x>")), mailbox)
    bot = ScriptedBot()
    channel = await start_channel(dovecot, smtp_server, mailbox, bot, max_bytes=10_000)
    try:
        await wait_for(lambda: outbox, timeout=30)
    finally:
        await stop_channel(channel)
    assert [m.text for m in bot.handled] == ["Tem loja em Recife?"]
    assert ("fetch", "1", "(BODY.PEEK[])") not in commands and ("fetch", "2", "(BODY.PEEK[])") in commands
    assert QUARANTINE_FLAG in flags_of(dovecot, mailbox)[1]
    [line] = quarantine_lines(caplog)
    assert "UID 1" in line.getMessage() and "larger than EMAIL_MAX_BYTES (10000)" in line.getMessage()
    assert_no_content_logged(caplog, BODY_MARKER, "fotos")


@pytest.mark.parametrize("case", list(CASES))
def test_adversarial_mail_of_1_mb_is_parsed_or_refused_in_bounded_time(case):
    outcome = measure(case)
    assert outcome.wall_s < 5, f"{case}: {outcome.wall_s:.2f} s"  # bench: every case < 1 s on a quiet machine
    raw_size = len(CASES[case]())
    assert outcome.text_chars <= 3 * raw_size  # no blow-up (nested quotes used to give 300x)
    if outcome.refused:
        assert re.fullmatch(r"[A-Za-z0-9 _().,-]+", outcome.refused)  # names a limit, quotes nothing


def test_encoded_crlf_in_display_name_is_refused_not_raised_raw():
    with pytest.raises(UnparseableMail) as refused:
        parse_email(POISON)
    assert refused.value.reason == "parser failed (ValueError)"


def test_52_kb_of_nested_blockquotes_no_longer_becomes_16_m_characters():
    markup = "<blockquote>x" * 4000  # 52 KB: 16 M characters before the depth cap
    assert len(html_to_text(markup)) < 200_000


def test_a_line_of_tabs_no_longer_makes_the_quote_regex_quadratic():
    started = time.perf_counter()
    assert new_text("\t" * 200_000 + "Obrigada") == "Obrigada"  # 10k tabs took 2.1 s before
    assert time.perf_counter() - started < 1


async def test_a_large_mail_is_parsed_off_the_event_loop():
    # ~9 MB, a legitimate size under EMAIL_MAX_BYTES: ~0.5 s of parsing on this machine.
    attachment = base64.encodebytes(b"\x00\x01" * 3_500_000)
    raw = (b"From: ana@example.com\r\nSubject: nota\r\nMessage-ID: <nf@x>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nsegue a nota\r\n"
           b"--z\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=nf.pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--z--\r\n")
    channel = EmailInput(EmailSettings(address=SHOP, imap=None, mailbox="INBOX",
                                       smtp=ServerSettings("127.0.0.1", 25, "", "", "none")))
    gaps: List[float] = []

    async def heartbeat() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    event = await channel.parsed_event(raw)
    parsing = time.perf_counter() - started
    beating.cancel()
    assert event.text == "segue a nota" and event.media[0]["size"] == 7_000_000
    assert max(gaps) < parsing / 3, f"loop stalled {max(gaps):.3f} s during a {parsing:.3f} s parse"


_HEADER_LINES = st.sampled_from([
    b"From: ", b"From: =?utf-8?q?", b"Subject: =?utf-8?b?", b"Content-Type: multipart/mixed; boundary=",
    b"Content-Type: message/rfc822", b"Content-Type: text/html; charset=", b"Content-Transfer-Encoding: base64",
    b"In-Reply-To: <", b"References: ", b"Date: ", b"Content-Disposition: attachment; filename*0*=", b"--",
    b"<blockquote>", b"<!--", b"\t", b"=0D=0A", b"\r\n ", b"\r\n", b"\x00", b"\xff",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_HEADER_LINES, st.binary(max_size=40)), max_size=60))
def test_any_bytes_are_parsed_or_refused_never_raised(pieces):
    raw = b"".join(pieces)
    started = time.perf_counter()
    try:
        parsed = parse_email(raw)
    except UnparseableMail as refused:
        assert re.fullmatch(r"[A-Za-z0-9 _().,-]+", refused.reason)
    else:
        parsed_text = parsed.full_text + parsed.new_text + parsed.subject + parsed.sender
        parsed_text.encode("utf-8")  # storable: the inbox writes UTF-8 JSON
    assert time.perf_counter() - started < 2


def test_nlu_reads_at_most_a_few_thousand_characters_of_a_huge_mail():
    from email.message import EmailMessage

    from connectors.email.channel import MAX_TEXT_FOR_BOT, event_for
    from connectors.email.message import parse_email

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "ana@example.com", "shop@example.com", "order"
    mail["Message-ID"] = "<huge@example.com>"
    mail.set_content("where is my order " * 50_000)  # 900 KB of new text
    event = event_for(parse_email(bytes(mail)))
    assert len(event.text) == MAX_TEXT_FOR_BOT
    assert len(event.details["email"]["full_text"]) > 100_000  # the agent still has the mail
