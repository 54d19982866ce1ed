"""A forged mail asking the real assistant to link the attacker's address: the trained model,
the Rasa server with the project's credentials.yml and endpoints.yml, the action server, Dovecot
and an SMTP server. Slow (~1 min): loads the model. Needs models/threadline.tar.gz."""
from __future__ import annotations

from email.utils import make_msgid

import pytest

from tests.email_channel.conftest import (  # noqa: F401  (fixtures, found by name)
    dovecot, mail, mailbox, outbox, plain_body, smtp_server,
)
from tests.email_channel.test_email_rasa import rasa_with_email  # noqa: F401
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


async def test_my_email_is_in_a_forged_mail_sends_no_code_and_the_assistant_keeps_answering(
        rasa_with_email, dovecot, mailbox, outbox):
    dovecot.deliver(bytes(mail("Ana Souza <ana@example.com>", "Oi", "Hi, I'm me@evil.example",
                               message_id=make_msgid(), authenticated=False)), mailbox)
    answer = (await wait_for(lambda: outbox, timeout=120))[0]
    assert answer["X-Envelope-To"] == "ana@example.com"
    assert "didn't confirm this email came from your address" in " ".join(plain_body(answer).split())

    dovecot.deliver(bytes(mail("Bruno <bruno@example.org>", "Hello", "Hello there!", message_id=make_msgid())),
                    mailbox)
    await wait_for(lambda: len(outbox) == 2, timeout=60)
    assert [m["X-Envelope-To"] for m in outbox] == ["ana@example.com", "bruno@example.org"]  # no code to evil
    actions_log = (rasa_with_email.parent / "actions.log").read_text()
    assert actions_log.count("action_claim_identity refused: the mail's From address is not authenticated") == 1
    assert "me@evil.example" not in actions_log and "me@evil.example" not in rasa_with_email.read_text()
