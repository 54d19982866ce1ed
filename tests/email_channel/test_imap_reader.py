"""The IMAP reader against a real Dovecot: TLS modes, cursor, UIDVALIDITY, IDLE push."""
from __future__ import annotations

import asyncio
import time
from typing import List, Tuple

import pytest
from redis.asyncio import Redis

from connectors.email.imap import ImapReader, new_uids
from connectors.email.state import EmailState
from tests.email_channel.conftest import mail, settings_for, trusting
from tests.support.waiting import wait_for


class Collected:
    def __init__(self) -> None:
        self.mail: List[Tuple[int, bytes, float]] = []

    async def __call__(self, uid: int, raw: bytes) -> None:
        self.mail.append((uid, raw, time.monotonic()))


def reader_for(dovecot, mailbox, state, handler, security="none", **options) -> ImapReader:
    settings = settings_for(dovecot, 0, mailbox, security)
    options.setdefault("record_unanswered", Collected())
    return ImapReader(settings.imap, mailbox, f"test/{mailbox}", state, handler,
                      ssl_context=trusting(dovecot), **options)


async def run_until(reader: ImapReader, check, timeout: float = 15) -> None:
    task = asyncio.create_task(reader.run())
    try:
        await wait_for(check, timeout)
    finally:
        reader.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_search_answer_is_filtered_client_side():
    # "UID SEARCH UID 8:*" on a mailbox whose highest UID is 5 answers "5".
    assert new_uids([b"SEARCH 5", b"Search completed"], after=7) == []
    assert new_uids([b"SEARCH 3 9 8", b"Search completed"], after=7) == [8, 9]


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
async def test_reads_new_mail_with_each_security_mode(dovecot, mailbox, redis_url, security):
    redis = Redis.from_url(redis_url)
    collected = Collected()
    reader = reader_for(dovecot, mailbox, EmailState(redis), collected, security)
    dovecot.deliver(bytes(mail("ana@example.com", "Oi", f"via {security}", message_id="<a@x>")), mailbox)
    await run_until(reader, lambda: collected.mail)
    assert b"via " + security.encode() in collected.mail[0][1]
    await redis.close()


async def test_starttls_refuses_an_untrusted_certificate(dovecot, mailbox, redis_url):
    redis = Redis.from_url(redis_url)
    settings = settings_for(dovecot, 0, mailbox, "starttls")
    reader = ImapReader(settings.imap, mailbox, "k", EmailState(redis), Collected(),
                        record_unanswered=Collected())  # system CAs only
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        await reader.connect()
    await redis.close()


async def test_cursor_survives_restart_and_uidvalidity_change_rescans(dovecot, mailbox, redis_url):
    redis = Redis.from_url(redis_url)
    state = EmailState(redis)
    first = Collected()
    for n in range(3):
        dovecot.deliver(bytes(mail("ana@example.com", f"m{n}", f"body {n}", message_id=f"<m{n}@x>")), mailbox)
    await run_until(reader_for(dovecot, mailbox, state, first), lambda: len(first.mail) == 3)
    assert [uid for uid, _, _ in first.mail] == [1, 2, 3]

    again = Collected()
    dovecot.deliver(bytes(mail("ana@example.com", "m3", "body 3", message_id="<m3@x>")), mailbox)
    await run_until(reader_for(dovecot, mailbox, state, again), lambda: again.mail)
    await asyncio.sleep(0.5)
    assert [uid for uid, _, _ in again.mail] == [4]  # nothing before the cursor is read again

    validity, _ = await state.imap_cursor(f"test/{mailbox}")
    await state.set_imap_cursor(f"test/{mailbox}", validity + 1, 4)  # as if the folder was rebuilt
    rescan = Collected()
    await run_until(reader_for(dovecot, mailbox, state, rescan), lambda: len(rescan.mail) == 4)
    await redis.close()


async def test_idle_delivers_new_mail_without_waiting_for_the_poll(dovecot, mailbox, redis_url):
    redis = Redis.from_url(redis_url)
    collected = Collected()
    reader = reader_for(dovecot, mailbox, EmailState(redis), collected, idle_s=60)
    task = asyncio.create_task(reader.run())
    await asyncio.wait_for(reader.connected.wait(), 10)
    await asyncio.sleep(0.5)  # the reader is now inside IDLE
    sent_at = time.monotonic()
    dovecot.deliver(bytes(mail("ana@example.com", "push", "pushed", message_id="<push@x>")), mailbox)
    await wait_for(lambda: collected.mail, timeout=20)
    latency = collected.mail[0][2] - sent_at
    reader.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await redis.close()
    print(f"\nIMAP IDLE push latency: {latency * 1000:.0f} ms (poll interval 60 s)")
    assert latency < 10


async def test_a_failing_handler_does_not_move_the_cursor(dovecot, mailbox, redis_url):
    redis = Redis.from_url(redis_url)
    state = EmailState(redis)
    attempts: List[int] = []

    async def flaky(uid: int, raw: bytes) -> None:
        attempts.append(uid)
        if len(attempts) == 1:
            raise ConnectionError("inbox unavailable")

    dovecot.deliver(bytes(mail("ana@example.com", "x", "y", message_id="<f@x>")), mailbox)
    async def cursor_moved() -> bool:
        # The cursor moves just after the handler returns: wait for it, not only for the call.
        return len(attempts) == 2 and ((await state.imap_cursor(f"test/{mailbox}")) or (0, 0))[1] == 1

    await run_until(reader_for(dovecot, mailbox, state, flaky), cursor_moved)
    assert attempts == [1, 1]  # retried after reconnecting, not skipped
    await redis.close()


@pytest.mark.parametrize("abrupt", [False, True], ids=["server-says-bye", "socket-just-closes"])
async def test_reconnects_at_once_when_the_server_restarts(redis_url, abrupt):
    from tests.support.dovecot import DovecotServer

    server = DovecotServer()  # its own server: restarting the shared one would disturb other tests
    try:
        server.client().create("Box")
        redis = Redis.from_url(redis_url)
        collected = Collected()
        reader = reader_for(server, "Box", EmailState(redis), collected, idle_s=120)
        task = asyncio.create_task(reader.run())
        await asyncio.wait_for(reader.connected.wait(), 10)
        server.deliver(bytes(mail("ana@example.com", "1", "before", message_id="<b1@x>")), "Box")
        await wait_for(lambda: len(collected.mail) == 1)

        await asyncio.to_thread(server.restart, abrupt)  # drops the IDLE connection
        restarted = time.monotonic()
        server.deliver(bytes(mail("ana@example.com", "2", "after", message_id="<b2@x>")), "Box")
        await wait_for(lambda: len(collected.mail) == 2, timeout=30)
        recovery = collected.mail[1][2] - restarted
        reader.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await redis.close()
    finally:
        server.stop()
    print(f"\nIMAP server restart: mail after the restart read in {recovery:.1f} s (IDLE timer 120 s)")
    assert recovery < 15
