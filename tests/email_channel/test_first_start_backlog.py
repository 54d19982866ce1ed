"""The IMAP reader's first start on a mailbox against a real Dovecot: no mail silently skipped.

Unseen mail received within EMAIL_BACKLOG_HOURS is answered; older unseen mail goes through the
same inbox and is recorded in the CRM as the customer's unanswered message, once however often
it is read again, and the console's conversation page marks it; robots' mail stays recorded
only; mail a person already read is left alone; a mail that lands while the reader starts (after
the boundary is stored, before IDLE, while the last mail is marked) is answered at once.
"""
from __future__ import annotations

import imaplib
import logging
import os
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlalchemy import select

from connectors.email.channel import UNANSWERED_BACKLOG
from connectors.email.imap import PROCESSED_FLAG, ImapReader
from connectors.email.state import EmailState
from connectors.webhook.records import ChannelRecords
from tests.console.conftest import log_in
from tests.email_channel.conftest import mail
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for
from threadline.console.agents import AddAgent
from threadline.console.app import console_app
from threadline.crm import Database
from threadline.crm.models import Interaction
from threadline.crm.sql_backend import SqlCrm
from threadline.crm.timeline import UNANSWERED
from threadline.handoff.rasa_api import RasaApi
from threadline.handoff.store import OpenHandoff

ANA = "Ana Souza <ana@example.com>"
BIA = "Bia Lima <bia@example.com>"
OLD_BODY = "pedido de dois dias atrás"


def append(dovecot, mailbox: str, msg: EmailMessage, age_s: float, flags: str = "") -> None:
    """Put a mail in the folder as received `age_s` ago (IMAP APPEND sets INTERNALDATE)."""
    client = dovecot.client()
    try:
        client.append(mailbox, flags, imaplib.Time2Internaldate(time.time() - age_s), bytes(msg))
    finally:
        client.logout()


def flags_by_uid(dovecot, mailbox: str) -> dict:
    client = dovecot.client()
    client.select(mailbox)
    _, data = client.uid("FETCH", "1:*", "(FLAGS)")
    client.logout()
    found = {}
    for line in data:
        text = line.decode()
        uid = int(text.split("UID ")[1].split()[0])
        found[uid] = text.split("FLAGS (")[1].split(")")[0].split()
    return found


async def recorded_unanswered(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        events = []
        async for key in redis.scan_iter("tl:inbox:activity:*"):
            customer = key.decode().rsplit(":", 1)[1]
            events += [(customer, e) for e in await ChannelRecords(redis).recent_activity(customer)]
        return [(c, e) for c, e in events if e.details.get("email", {}).get("unanswered")]
    finally:
        await redis.close()


async def unanswered_in_crm(db: Database) -> list:
    """(customer id, interaction) of every unanswered message, read through the CRM interface."""
    customers = await db.run(lambda s: sorted(set(s.scalars(
        select(Interaction.customer_id).where(Interaction.delivery_status == UNANSWERED)).all())))
    found = []
    for customer_id in customers:
        found += [(customer_id, r) for r in await SqlCrm(db).timeline(customer_id)
                  if r.delivery_status == UNANSWERED]
    return found


@pytest.fixture
def crm_db(email_env):
    database = Database(os.environ["CRM_DATABASE_URL"])
    yield database
    database.dispose()


async def test_first_start_answers_recent_unseen_mail_and_records_older_mail_unanswered(
        harness, email_env, crm_db, caplog):
    caplog.set_level(logging.INFO)
    append(harness.dovecot, harness.mailbox, mail(ANA, "Antigo", OLD_BODY, message_id=make_msgid()), 2 * 86400)
    append(harness.dovecot, harness.mailbox, mail(BIA, "Lido", "já lido por alguém", message_id=make_msgid()),
           3600, flags="(\\Seen)")
    append(harness.dovecot, harness.mailbox, mail(BIA, "Recente", "chegou faz uma hora", message_id=make_msgid()), 3600)

    await harness.start()
    harness.deliver(mail(BIA, "Nova", "chegou agora", message_id=make_msgid()))

    await wait_for(lambda: len(harness.outbox) == 2, timeout=30)
    assert [m.text for m in harness.bot.handled] == ["chegou faz uma hora", "chegou agora"]
    [(old_customer, old)] = await wait_for(lambda: recorded_unanswered(email_env), timeout=30)
    assert old.text == OLD_BODY and old.details["email"]["unanswered"] == UNANSWERED_BACKLOG
    assert old.address == "ana@example.com"
    flags = flags_by_uid(harness.dovecot, harness.mailbox)
    assert PROCESSED_FLAG in flags[1] and PROCESSED_FLAG in flags[3] and PROCESSED_FLAG in flags[4]
    assert PROCESSED_FLAG not in flags[2]  # a person already read it: left alone
    assert not any(OLD_BODY in r.getMessage() for r in caplog.records)

    [(customer_id, record)] = await wait_for(lambda: unanswered_in_crm(crm_db), timeout=30)
    assert (record.author, record.channel, record.text) == ("customer", "email", OLD_BODY)
    assert record.occurred_at == datetime(2024, 1, 8, 14, 0)  # the mail's Date, in UTC
    assert customer_id == old_customer  # the conversation the inbox put it in


async def test_a_mail_landing_while_the_reader_starts_is_answered(harness, monkeypatch):
    append(harness.dovecot, harness.mailbox, mail(ANA, "Antes", "antes do início", message_id=make_msgid()), 60)
    original = EmailState.start_imap_cursor

    async def deliver_meanwhile(self, mailbox_key, uidvalidity, backlog_end):
        await original(self, mailbox_key, uidvalidity, backlog_end)
        # The boundary is stored and nothing is read yet: this mail lands above it.
        harness.deliver(mail(BIA, "Durante", "durante o início", message_id=make_msgid()))

    monkeypatch.setattr(EmailState, "start_imap_cursor", deliver_meanwhile)
    await harness.start()
    await wait_for(lambda: len(harness.outbox) == 2, timeout=30)
    # Two customers, two lanes: which of them is answered first is not promised.
    assert sorted(m.text for m in harness.bot.handled) == ["antes do início", "durante o início"]


async def test_a_restart_during_the_backlog_resumes_it_without_answering_twice(harness, email_env):
    for n in range(3):
        append(harness.dovecot, harness.mailbox, mail(ANA, f"Pedido {n}", f"pergunta {n}", message_id=make_msgid()), 600)
    await harness.start()
    await wait_for(lambda: len(harness.outbox) == 3, timeout=30)
    key = harness.channel.settings.mailbox_key
    await harness.stop()

    redis = Redis.from_url(email_env)
    state = EmailState(redis)
    validity, _ = await state.imap_cursor(key)
    await state.set_imap_cursor(key, validity, 1)  # as if it died after the first backlog mail
    await redis.close()
    harness.deliver(mail(BIA, "Depois", "depois do reinício", message_id=make_msgid()))
    await harness.start()

    async def cursor_at_end() -> bool:
        # Every mail handed to the inbox (duplicates refused there by Message-ID).
        redis = Redis.from_url(email_env)
        try:
            return (await EmailState(redis).imap_cursor(key))[1] == 4
        finally:
            await redis.close()

    await wait_for(cursor_at_end, timeout=30)
    await wait_for(lambda: len(harness.outbox) == 4, timeout=30)
    assert [m.text for m in harness.bot.handled] == ["pergunta 0", "pergunta 1", "pergunta 2", "depois do reinício"]


# idle_s long enough that the reader's own re-check after an IDLE round cannot rescue a missed
# mail within the wait: it is answered only if the reader notices it by itself.
LONG_IDLE_S = 120


async def test_a_mail_landing_between_the_last_search_and_idle_is_answered_at_once(harness, monkeypatch):
    append(harness.dovecot, harness.mailbox, mail(ANA, "Antes", "antes do início", message_id=make_msgid()), 60)
    original = ImapReader._idle_once
    delivered = []

    async def deliver_before_idle(self):
        if not delivered:  # the first start's SELECT and SEARCHes are done, IDLE not yet sent
            delivered.append(True)
            harness.deliver(mail(BIA, "Durante", "antes do IDLE", message_id=make_msgid()))
        await original(self)

    monkeypatch.setattr(ImapReader, "_idle_once", deliver_before_idle)
    await harness.start(idle_s=LONG_IDLE_S)
    await wait_for(lambda: len(harness.outbox) == 2, timeout=20)
    assert [m.text for m in harness.bot.handled] == ["antes do início", "antes do IDLE"]


async def test_a_mail_landing_while_the_last_found_mail_is_marked_is_answered_at_once(harness, monkeypatch):
    # The server announces it (EXISTS) in its answer to the reader's STORE, which aioimaplib
    # drops, and not again in IDLE: only a search after the last mail found it.
    append(harness.dovecot, harness.mailbox, mail(ANA, "Antes", "antes do início", message_id=make_msgid()), 60)
    start_cursor, flag = EmailState.start_imap_cursor, ImapReader._flag
    flagged = []

    async def deliver_after_boundary(self, mailbox_key, uidvalidity, backlog_end):
        await start_cursor(self, mailbox_key, uidvalidity, backlog_end)
        harness.deliver(mail(BIA, "Durante", "durante o início", message_id=make_msgid()))

    async def deliver_while_flagging(self, uid, name):
        flagged.append(uid)
        if len(flagged) == 2:  # the mail that landed above the boundary, the last one found
            harness.deliver(mail(BIA, "Marcação", "durante a marcação", message_id=make_msgid()))
        await flag(self, uid, name)

    monkeypatch.setattr(EmailState, "start_imap_cursor", deliver_after_boundary)
    monkeypatch.setattr(ImapReader, "_flag", deliver_while_flagging)
    await harness.start(idle_s=LONG_IDLE_S)
    await wait_for(lambda: len(harness.outbox) == 3, timeout=20)
    assert [m.text for m in harness.bot.handled] == ["antes do início", "durante o início", "durante a marcação"]


async def test_old_mail_is_recorded_in_the_crm_once_even_when_redis_forgot_everything(
        harness, email_env, crm_db):
    append(harness.dovecot, harness.mailbox, mail(ANA, "Antigo", OLD_BODY, message_id=make_msgid()), 2 * 86400)
    await harness.start()
    await wait_for(lambda: unanswered_in_crm(crm_db), timeout=30)
    await harness.stop()

    # A fresh Redis (the project-local one restarted without its data): no cursor, no dedupe,
    # so the reader's next start is a first start again and reads the same mail again.
    redis = Redis.from_url(email_env)
    await redis.flushdb()
    await redis.close()
    await harness.start()
    await wait_for(lambda: recorded_unanswered(email_env), timeout=30)  # handled again, up to the CRM
    assert len(await unanswered_in_crm(crm_db)) == 1
    assert harness.outbox == []


async def test_old_mail_from_a_robot_is_recorded_only_not_in_the_crm(harness, email_env, crm_db):
    append(harness.dovecot, harness.mailbox, mail("Loja <noreply@shop.example>", "Seu pedido", "pedido enviado",
                                                  message_id=make_msgid(), Auto_Submitted="auto-generated"),
           2 * 86400)
    append(harness.dovecot, harness.mailbox, mail(ANA, "Antigo", OLD_BODY, message_id=make_msgid()), 2 * 86400)
    await harness.start()

    async def both_recorded() -> bool:
        return len(await recorded_unanswered(email_env)) == 2  # inbox activity: the robot's and Ana's

    await wait_for(both_recorded, timeout=30)
    [(_, record)] = await unanswered_in_crm(crm_db)
    assert record.text == OLD_BODY  # the robot's mail is in the inbox activity only
    assert harness.outbox == []


async def test_the_conversation_page_marks_old_mail_as_not_answered(harness, email_env, crm_db):
    append(harness.dovecot, harness.mailbox, mail(ANA, "Antigo", OLD_BODY, message_id=make_msgid()), 2 * 86400)
    await harness.start()
    [(customer_id, _)] = await wait_for(lambda: unanswered_in_crm(crm_db), timeout=30)

    # The customer later asks for a person; the agent opens the conversation.
    opened = await OpenHandoff(crm_db)(customer_id, reason="requested", channel="email",
                                       summary_text="Ana wants a person.", summary={})
    AddAgent(crm_db)("ana", "ana-secret-password")
    redis = Redis.from_url(email_env)
    client = TestClient(TestServer(console_app(crm_db, redis, RasaApi(f"http://127.0.0.1:{free_port()}", "unused"), ChannelRecords(redis).opted_out)))
    await client.start_server()
    try:
        await log_in(client, "ana", "ana-secret-password")
        page = await client.get(f"/handoffs/{opened.handoff.id}")
        html = await page.text()
    finally:
        await client.close()
        await redis.close()
    assert page.status == 200
    entry = html[html.index(OLD_BODY) - 400:html.index(OLD_BODY)]
    assert "not answered (arrived before Threadline started)" in entry
    assert html.count("not answered (arrived before Threadline started)") == 1
