"""`bin/threadline serve email`: the IMAP reader in a process of its own, against a real Dovecot
and a real Redis; the Rasa server's side of the channel (THREADLINE_EMAIL_READER=separate) reads
nothing, and the inbox consumer answers what the separate reader queued."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.request
from email.utils import make_msgid

from connectors.email.channel import EmailInput
from tests.email_channel.conftest import MX, SHOP, mail, plain_body, settings_for
from tests.support.processes import wait_http_ok
from tests.support.redis_server import free_port
from tests.support.waiting import wait_for
from threadline.settings import PROJECT_DIR

THREADLINE = str(PROJECT_DIR / "bin" / "threadline")


def reader_env(dovecot, smtp_port: int, mailbox: str, redis_url: str, crm_url: str, port: int) -> dict:
    return {
        **os.environ, "REDIS_URL": redis_url, "CRM_DATABASE_URL": crm_url, "EMAIL_READER_PORT": str(port),
        "EMAIL_ADDRESS": SHOP, "EMAIL_IMAP_HOST": "127.0.0.1", "EMAIL_IMAP_PORT": str(dovecot.imap_port),
        "EMAIL_IMAP_USER": dovecot.user, "EMAIL_IMAP_PASSWORD": dovecot.password,
        "EMAIL_IMAP_MAILBOX": mailbox, "EMAIL_IMAP_SECURITY": "none",
        "EMAIL_SMTP_HOST": "127.0.0.1", "EMAIL_SMTP_PORT": str(smtp_port), "EMAIL_SMTP_SECURITY": "none",
        "EMAIL_AUTHSERV_ID": MX,
    }


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return json.loads(response.read())


async def test_serve_email_reads_the_mailbox_and_the_inbox_worker_answers(
        harness, dovecot, smtp_server, mailbox, email_env, monkeypatch, tmp_path):
    controller, _ = smtp_server
    port = free_port()
    env = reader_env(dovecot, controller.port, mailbox, email_env, os.environ["CRM_DATABASE_URL"], port)
    monkeypatch.setenv("THREADLINE_EMAIL_READER", "separate")
    with open(tmp_path / "email-reader.log", "ab") as log:
        process = subprocess.Popen([THREADLINE, "serve", "email"], env=env, stdout=log, stderr=log,
                                   start_new_session=True)
    try:
        await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/health", process, 90)
        # exec: the reader is the process started, so SIGTERM reaches it directly.
        assert "reader_service" in open(f"/proc/{process.pid}/cmdline", "rb").read().decode(errors="replace")
        await wait_for(lambda: health(port)["reading"], timeout=15)

        # The Rasa server's side of the channel: inbox open, no reader of its own.
        channel = harness.channel = EmailInput(settings_for(dovecot, controller.port, mailbox))
        await channel.start(harness.bot, lambda: True)
        assert channel.reader is None and channel.state() == "ok"
        harness.consuming = asyncio.create_task(channel.consume(harness.bot, lambda: True))

        harness.deliver(mail("Ana Souza <ana@example.com>", "Pedido 4821", "Onde está meu pedido?",
                             message_id=make_msgid(domain="example.com")))
        reply = (await wait_for(lambda: harness.outbox, timeout=30))[0]
        assert "ana@example.com" in reply["To"] and "Onde está meu pedido?" in plain_body(reply)
        assert [m.text for m in harness.bot.handled] == ["Onde está meu pedido?"]
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
