"""Mailgun inbound: a captured POST cannot be replayed, a stale one is refused, a mail that
cannot be parsed is refused with 406 (Mailgun stops retrying) and counted as quarantined;
each with one log line that quotes neither the mail nor the signature, and the route keeps
answering the next customer. Real HTTP to the channel's blueprint, registered as Rasa does."""
from __future__ import annotations

import logging
import time
from email.utils import make_msgid

import pytest
from redis.asyncio import Redis

from connectors.email.mailgun import WINDOW_S, mailgun_signature
from connectors.email.state import EmailState
from tests.email_channel.conftest import email_env, mail, outbox, smtp_server  # noqa: F401  (fixtures)
from tests.email_channel.test_mailgun import KEY, mailgun, post, sanic_test_mode, signed  # noqa: F401
from tests.security.test_hostile_mail import BODY_MARKER, POISON
from tests.support.waiting import wait_for


def rejections(caplog):
    return [r.getMessage() for r in caplog.records if "webhook rejected" in r.getMessage()]


def assert_nothing_secret_logged(caplog, form: dict) -> None:
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (form["token"], form["signature"], KEY, BODY_MARKER, "Qual o prazo"):
        assert secret not in logged


def customer_mail(text: str = "Qual o prazo para Recife?") -> bytes:
    return bytes(mail("Ana <ana@example.com>", "Entrega", text, message_id=make_msgid(domain="example.com")))


async def answered(outbox, count: int) -> None:
    await wait_for(lambda: len(outbox) >= count, timeout=20)


async def test_a_replayed_post_is_refused(mailgun, outbox, caplog):
    url, bot = mailgun
    caplog.set_level(logging.INFO)
    form = signed(customer_mail())
    assert await post(url, form) == 200
    await answered(outbox, 1)
    assert await post(url, form) == 403
    [line] = rejections(caplog)
    assert "token already used (replay)" in line
    assert_nothing_secret_logged(caplog, form)
    assert len(bot.handled) == 1


async def test_a_replay_with_another_mail_under_a_used_token_is_refused(mailgun, outbox, caplog):
    url, bot = mailgun
    caplog.set_level(logging.INFO)
    first = signed(customer_mail())
    assert await post(url, first) == 200
    forged = {**first, "body-mime": customer_mail("Mude meu email para eu@evil.example").decode()}
    assert await post(url, forged) == 403  # the signature covers only timestamp + token
    await answered(outbox, 1)
    assert [m.text for m in bot.handled] == ["Qual o prazo para Recife?"]
    [line] = rejections(caplog)
    assert "replay" in line


@pytest.mark.parametrize("offset_s", [-(WINDOW_S + 1), WINDOW_S + 60, -86_400 * 365])
async def test_a_post_signed_outside_the_window_is_refused(mailgun, outbox, caplog, offset_s):
    url, bot = mailgun
    caplog.set_level(logging.INFO)
    stale = signed(customer_mail(), at=time.time() + offset_s)
    assert await post(url, stale) == 403
    [line] = rejections(caplog)
    assert f"outside the {WINDOW_S} s window" in line
    assert_nothing_secret_logged(caplog, stale)
    assert await post(url, signed(customer_mail())) == 200  # the next, fresh POST is answered
    await answered(outbox, 1)
    assert len(bot.handled) == 1


async def test_a_refreshed_timestamp_breaks_the_signature(mailgun, outbox, caplog):
    url, bot = mailgun
    caplog.set_level(logging.INFO)
    old = signed(customer_mail(), at=time.time() - 3600)
    refreshed = {**old, "timestamp": str(int(time.time()))}
    assert await post(url, refreshed) == 403
    [line] = rejections(caplog)
    assert "invalid Mailgun signature" in line
    assert bot.handled == [] and outbox == []


async def test_a_non_numeric_timestamp_is_refused(mailgun, outbox, caplog):
    url, bot = mailgun
    caplog.set_level(logging.INFO)
    form = signed(customer_mail())
    form["timestamp"] = "nan"
    form["signature"] = mailgun_signature(KEY, form["timestamp"], form["token"])
    assert await post(url, form) == 403
    [line] = rejections(caplog)
    assert "window" in line


async def test_an_unparseable_mail_is_refused_with_406_and_counted(mailgun, outbox, caplog, email_env):
    url, bot = mailgun
    caplog.set_level(logging.INFO)
    form = signed(POISON)
    assert await post(url, form) == 406
    [line] = rejections(caplog)
    assert "quarantined: parser failed (ValueError)" in line
    assert_nothing_secret_logged(caplog, form)
    redis = Redis.from_url(email_env)
    quarantined = await EmailState(redis).quarantined()
    await redis.close()
    assert quarantined["by_source"] == {"mailgun": 1}
    assert await post(url, signed(customer_mail())) == 200  # the route keeps answering
    await answered(outbox, 1)
    assert len(bot.handled) == 1
