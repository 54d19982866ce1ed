"""The email channel inside the real Rasa server (threadline.rasa_server, the project's
credentials.yml and endpoints.yml, the trained model), against Dovecot and an SMTP server.

Slow (~1 min): loads the model. Needs models/threadline.tar.gz (`make train`).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from email.utils import make_msgid
from pathlib import Path

import aiohttp
import pytest
import redis
from sqlalchemy import select

from tests.email_channel.conftest import MX, SHOP, mail, plain_body
from tests.support.waiting import wait_for
from tests.support.processes import action_server
from tests.support.redis_server import free_port
from threadline.crm import Database
from threadline.crm.models import ChannelIdentity
from threadline.crm.models.csat import CsatRequest
from threadline.handoff.rasa_api import RasaApi
from threadline.insights.csat import AskCsat
from threadline.sandbox.config import ALL_CHANNEL_VARS

PROJECT = Path(__file__).resolve().parents[2]
MODEL = PROJECT / "models" / "threadline.tar.gz"

pytestmark = pytest.mark.slow


@pytest.fixture
def rasa_with_email(dovecot, smtp_server, mailbox, redis_server, tmp_path):
    with email_on_rasa(dovecot, smtp_server, mailbox, redis_server, tmp_path) as (log_path, _):
        yield log_path


@contextmanager
def email_on_rasa(dovecot, smtp_server, mailbox, redis_server, tmp_path, rasa_port: int = 0,
                  rasa_args: tuple = (), **extra_env: str):
    """The Rasa server (on `rasa_port`, else a free one, with `rasa_args`) and an inbox worker
    with the email channel: yields (the server's log, its port)."""
    if not MODEL.exists():
        pytest.skip("no trained model: run `make train` first")
    rasa_port = rasa_port or free_port()
    redis_server.flush()
    controller, _ = smtp_server
    env = {k: v for k, v in os.environ.items() if k not in ALL_CHANNEL_VARS and k != "SANDBOX"}
    env.update({name: "" for name in ALL_CHANNEL_VARS})  # other channels: sandbox mode
    env.update(
        REDIS_URL=redis_server.url, CRM_DATABASE_URL=f"sqlite:///{tmp_path / 'crm.sqlite3'}",
        ACTION_PORT=str(free_port()), RASA_TELEMETRY_ENABLED="false", PYTHONPATH=str(PROJECT),
        THREADLINE_INBOX_CONSUMER="email-rasa-test",
        EMAIL_ADDRESS=SHOP, EMAIL_IMAP_HOST="127.0.0.1", EMAIL_IMAP_PORT=str(dovecot.imap_port),
        EMAIL_IMAP_USER=dovecot.user, EMAIL_IMAP_PASSWORD=dovecot.password, EMAIL_IMAP_MAILBOX=mailbox,
        EMAIL_IMAP_SECURITY="none", EMAIL_SMTP_HOST="127.0.0.1", EMAIL_SMTP_PORT=str(controller.port),
        EMAIL_SMTP_SECURITY="none", EMAIL_AUTHSERV_ID=MX, **extra_env,
    )
    # The action server, as `make run` starts it (action_session_start is a custom action).
    with action_server(env, tmp_path / "actions.log", int(env["ACTION_PORT"])):
        log_path = tmp_path / "rasa.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "threadline.rasa_server", "run", "--credentials", "credentials.yml",
                 "--endpoints", "endpoints.yml", "--model", str(MODEL), "--port", str(rasa_port), *rasa_args],
                cwd=PROJECT, env=env, stdout=log, stderr=log)
        # The server only stores the mail; the inbox worker answers it, as `make run` runs them.
        with open(tmp_path / "worker.log", "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "threadline.inbox_worker", "--credentials", "credentials.yml",
                 "--endpoints", "endpoints.yml", "--model", str(MODEL)],
                cwd=PROJECT, env={**env, "THREADLINE_INBOX_WORKER_PORT": str(free_port())}, stdout=log, stderr=log)
        try:
            client = redis.Redis.from_url(redis_server.url)
            deadline = time.monotonic() + 360  # loading the model takes minutes on a busy machine
            while not client.keys("tl:email:imap:*"):  # the reader has opened the mailbox
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"Rasa did not start the email channel:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield log_path, rasa_port
        finally:
            for child in (worker, process):
                child.terminate()
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()


async def test_rasa_answers_an_email_and_its_reply_in_one_thread(rasa_with_email, dovecot, mailbox, outbox):
    first_id = make_msgid(domain="example.com")
    dovecot.deliver(bytes(mail("Ana Souza <ana@example.com>", "Hello", "Hello there!\n\nSent from my iPhone",
                               message_id=first_id)), mailbox)
    greeting = (await wait_for(lambda: outbox, timeout=120))[0]
    assert "thank you for writing to Threadline. I'm the shop's automated assistant" in plain_body(greeting)  # email variant
    assert greeting["In-Reply-To"] == first_id

    quoted = "\n".join("> " + line for line in plain_body(greeting).splitlines())
    dovecot.deliver(bytes(mail("Ana Souza <ana@example.com>", "Re: Hello",
                               f"thank you!\n\nOn Mon, Jan 8, 2024 at 10:00 AM Customer service <{SHOP}> wrote:\n{quoted}",
                               message_id=make_msgid(domain="example.com"), in_reply_to=greeting["Message-ID"],
                               references=f"{first_id} {greeting['Message-ID']}")), mailbox)
    thanks = (await wait_for(lambda: len(outbox) == 2 and outbox, timeout=60))[1]
    assert "You're welcome!" in plain_body(thanks)
    assert thanks["References"].split()[:2] == [first_id, greeting["Message-ID"]]


async def test_a_csat_rating_link_is_recorded_once_and_thanked_by_mail(dovecot, smtp_server, mailbox, redis_server,
                                                                        tmp_path, outbox):
    """The question as the console asks it (AskCsat through Rasa's HTTP API), the link's page on
    the Rasa server, the rating through the inbox worker's turn into action_record_csat."""
    port, token = free_port(), "csat-link-test-token"
    with email_on_rasa(dovecot, smtp_server, mailbox, redis_server, tmp_path, rasa_port=port,
                       rasa_args=("--enable-api",), RASA_AUTH_TOKEN=token, CSAT_LINK_SECRET="a-test-secret",
                       CSAT_LINK_BASE_URL=f"http://127.0.0.1:{port}/webhooks/email"):
        dovecot.deliver(bytes(mail("Ana Souza <ana@example.com>", "Hello", "Hello there!",
                                   message_id=make_msgid(domain="example.com"))), mailbox)
        await wait_for(lambda: outbox, timeout=360)  # the inbox worker loads its model meanwhile
        db = Database(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
        customer_id = db.transaction(lambda s: s.scalar(select(ChannelIdentity.customer_id).where(
            ChannelIdentity.channel == "email", ChannelIdentity.address == "ana@example.com")))
        assert await AskCsat(db, RasaApi(f"http://127.0.0.1:{port}", token))(customer_id, "email", "handoff", "h-1") is None
        [asked] = await wait_for(lambda: outbox[1:], timeout=30)
        links = re.findall(r'href="([^"]+/csat/[^"]+)"', asked.get_body(preferencelist=("html",)).get_content())
        links = [link.replace("&amp;", "&") for link in links]
        assert len(links) == 5 and all(link in plain_body(asked) for link in links)

        async with aiohttp.ClientSession() as session:
            async with session.get(links[3]) as response:  # what a scanner or the customer's click does
                assert response.status == 200 and "You chose: 4 - Good." in await response.text()
            async with session.post(links[3].split("?")[0], data={"score": "4"}) as response:
                assert response.status == 200 and "Thank you! Your rating is recorded." in await response.text()
            [thanks] = await wait_for(lambda: outbox[2:], timeout=60)
            assert "Thank you for rating us!" in plain_body(thanks)
            assert db.transaction(lambda s: [(r.channel, r.score) for r in s.scalars(select(CsatRequest))]) == [
                ("email", 4)]
            async with session.post(links[4].split("?")[0], data={"score": "5"}) as response:
                assert response.status == 409
        assert db.transaction(lambda s: [r.score for r in s.scalars(select(CsatRequest))]) == [4]
        db.dispose()
