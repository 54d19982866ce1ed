"""An email turn saved before its reply mail went out (the process died in between) is not run
again when its inbox entry is replayed, and its reply is sent once: real SMTP, Redis, resolver."""
from __future__ import annotations

from email.utils import make_msgid

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from connectors.email.channel import EmailInput
from connectors.webhook.runtime import ChannelRuntime, default_resolver_factory
from threadline.conversation.tracker_store import CustomerTrackerStore
from tests.email_channel.conftest import mail, plain_body, settings_for
from tests.support.waiting import wait_for

ANA = "Ana Souza <Ana.Souza@example.com>"


class Died(Exception):
    """Stands for the process ending right after Rasa saved the turn."""


async def test_a_replayed_mail_whose_turn_was_saved_is_not_run_again_and_its_reply_goes_once(
        dovecot, smtp_server, mailbox, outbox, email_env):
    controller, _ = smtp_server
    channel = EmailInput(settings_for(dovecot, controller.port, mailbox), send_retry_delays_s=(0.2,))
    runtime = ChannelRuntime.open(default_resolver_factory)
    store = CustomerTrackerStore(host=email_env)
    event = channel.mail_event(bytes(mail(ANA, "Pedido", "Onde está meu pedido?", message_id=make_msgid())))
    handled = []

    async def bot_that_dies_after_saving(message: UserMessage) -> None:
        handled.append(message.text)
        await message.output_channel.send_text_message(message.sender_id, "Está a caminho.")
        await store.save(DialogueStateTracker.from_events(
            message.sender_id, [UserUttered(message.text, message_id=message.message_id)]))
        raise Died()

    async def bot(message: UserMessage) -> None:
        handled.append(message.text)
        await message.output_channel.send_text_message(message.sender_id, "again?")

    try:
        with pytest.raises(Died):
            await channel.handle_event(event, bot_that_dies_after_saving, runtime)
        assert outbox == []  # saved, not sent: the mail goes out after the turn

        await channel.handle_event(event, bot, runtime)  # the inbox replays the entry
        [reply] = await wait_for(lambda: outbox)
        assert "Está a caminho." in plain_body(reply) and reply["Subject"] == "Re: Pedido"
        await channel.handle_event(event, bot, runtime)  # and once more: nothing new
        assert len(outbox) == 1 and handled == ["Onde está meu pedido?"]
    finally:
        await store.close()
        await runtime.close()
