"""An email turn's own words (greeting, sign-off) follow the customer's language (issue #16),
also when the bot's text comes from a custom action, which does not say its language: the
customer's `language` slot as the turn left it in the tracker store. Real Dovecot, real SMTP
server, the project's tracker store on the test's Redis."""
from __future__ import annotations

from email.utils import make_msgid

from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tests.email_channel.conftest import mail, plain_body
from tests.support.waiting import wait_for


class PortugueseTurn:
    """A turn as Rasa runs it for a Portuguese message: the slot is set and saved, and a
    custom action answers with a text of its own (no response variant, no language named)."""

    def __init__(self, store) -> None:
        self.store = store

    async def __call__(self, message) -> None:
        tracker = await self.store.retrieve(message.sender_id) or DialogueStateTracker(message.sender_id, [])
        tracker.update(UserUttered(message.text, {"name": "order_status", "confidence": 0.9}))
        tracker.update(SlotSet("language", "pt"))
        await self.store.save(tracker)
        await message.output_channel.send_text_message(message.sender_id, "Seu pedido TL-48213 sai amanhã.")


async def test_a_portuguese_customers_mail_is_framed_in_portuguese_whatever_the_text(harness, store):
    harness.bot = PortugueseTurn(store)
    await harness.start()
    harness.deliver(mail("Ana Souza <ana@example.com>", "Pedido", "cadê meu pedido TL-48213?",
                         message_id=make_msgid(domain="example.com")))
    [reply] = await wait_for(lambda: harness.outbox, timeout=30)
    assert plain_body(reply) == "Olá Ana,\n\nSeu pedido TL-48213 sai amanhã.\n\nAtenciosamente,\nEquipe de atendimento\n"
