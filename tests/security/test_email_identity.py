"""Speaking as another customer by email: each attack against the path `make run` uses.

Mail goes into a real Dovecot mailbox, is read by the real `EmailInput` (IMAP reader, inbox,
`handle_event`, the real identity resolver on the private Redis and a SQLite CRM) and answered by
a scripted bot over a real SMTP server. The shop's receiving server is `mx.shop.example`
(`EMAIL_AUTHSERV_ID`); a mail counts as written by its From address only when that server's
Authentication-Results says so. Anything else is answered as an unverified contact of its own.
"""
from __future__ import annotations

import logging
import re
from datetime import date
from email.utils import make_msgid

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select, update

from actions import crm_context, identity_claims
from actions.identity_claims import UNVERIFIED_SENDER, ActionClaimIdentity, ActionVerifyIdentityClaim
from actions.orders import ActionOrderStatus
from connectors.email.channel import EmailInput
from tests.crm.trackers import DOMAIN
from tests.email_channel.conftest import (  # noqa: F401  (fixtures, found by name)
    MX, dovecot, email_env, harness, mail, mailbox, outbox, plain_body, settings_for, smtp_server,
)
from tests.support.waiting import wait_for
from threadline.console.rendering import environment
from threadline.console.reads import timeline_after
from threadline.crm import Database
from threadline.crm.backends import CrmServices
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.models import IdentityClaim, Order
from threadline.crm.sql_backend import SqlCrm, SqlOrderBook
from threadline.crm.timeline import interactions_from_events
from threadline.identity.directory import UnverifiedContact
from threadline.identity.lookup import describe, find_by_address
from threadline.identity.merge import MergeRefused
from threadline.identity.services import IdentityServices

VICTIM = "Ana Souza <ana@example.com>"
VICTIM_ADDRESS = "ana@example.com"
WA_ID = "5511987654321"
UNVERIFIED_LINE = "From address not authenticated by a trusted server"


class RecordingCodeSender:
    def __init__(self) -> None:
        self.sent: list = []

    async def send_code(self, channel: str, address: str, code: str, language=None) -> None:
        self.sent.append((channel, address))


@pytest.fixture
async def identities(email_env, tmp_path):
    """The CRM and index the channel resolves with (same SQLite file, same Redis)."""
    services = IdentityServices(Database(f"sqlite:///{tmp_path / 'crm.sqlite3'}"), email_env)
    yield services
    await services.close()


@pytest.fixture
async def victim(identities) -> str:
    """Ana: a WhatsApp customer who confirmed her email, with a late order's case open."""
    customer = await identities.resolver.resolve("whatsapp", WA_ID, profile_name="Ana")
    await identities.link()(customer, "email", VICTIM_ADDRESS, actor="agent:test", reason="confirmed on WhatsApp")
    SeedDemoShop(identities.db, date.today())()
    await SqlCrm(identities.db).open_case(customer, "late_order", "TL-48213", "whatsapp")
    return customer


@pytest.fixture
async def claim_tools(identities):
    sender = RecordingCodeSender()
    crm_context.use_services(CrmServices(SqlCrm(identities.db), SqlOrderBook(identities.db)))
    tools = identity_claims.use_claim_tools(identities, sender)
    yield tools, sender
    await tools.verify.settle()
    identity_claims.use_claim_tools(None)
    crm_context.use_services(None)


async def profile(identities, customer_id: str) -> dict:
    return await identities.db.run(lambda s: describe(s, customer_id))


def unverified_lines(caplog) -> list:
    return [r for r in caplog.records if UNVERIFIED_LINE in r.getMessage()]


async def answered_as_unverified_contact(harness, identities, victim: str, caplog, raw_mail) -> str:
    """Deliver `raw_mail` (From: the victim's address); check it was answered, but not as her."""
    before = await profile(identities, victim)
    harness.deliver(raw_mail)
    [handled] = await wait_for(lambda: harness.bot.handled)
    reply = (await wait_for(lambda: harness.outbox))[0]

    contact = handled.sender_id
    assert contact != victim
    assert handled.metadata["sender_verified"] is False
    assert reply["X-Envelope-To"] == VICTIM_ADDRESS  # mail is answered to its From, as any mail is
    seen = await profile(identities, contact)
    assert [(i["channel"], i["verified"], i.get("unverified_sender")) for i in seen["identities"]] == [
        ("email", False, True)]
    assert not any(seen["open_items"].values())  # none of her cases, orders or promises
    assert await profile(identities, victim) == before  # her record is untouched
    [line] = unverified_lines(caplog)
    assert contact in line.getMessage() and VICTIM_ADDRESS not in caplog.text
    return contact


async def keeps_answering_others(harness) -> None:
    answered = len(harness.outbox)
    harness.deliver(mail("Bruno <bruno@example.org>", "Oi", "Vocês entregam em Campinas?", message_id=make_msgid()))
    await wait_for(lambda: len(harness.outbox) >= answered + 1)
    # Another customer's lane: Bruno's turn may come before or after the forger's last reply.
    [bruno] = await wait_for(lambda: [m for m in harness.bot.handled if "Campinas" in (m.text or "")])
    assert bruno.metadata["sender_verified"] is True


async def test_forged_from_of_a_known_customer_gets_an_unverified_contact_of_its_own(
        harness, identities, victim, caplog):
    caplog.set_level(logging.INFO, logger="connectors.email.channel")
    await harness.start()
    forged = mail(VICTIM, "Meus pedidos", "Quais são meus pedidos e casos abertos?", message_id=make_msgid(),
                  authenticated=False)
    contact = await answered_as_unverified_contact(harness, identities, victim, caplog, forged)
    assert "Quais são meus pedidos" not in caplog.text  # no body in the logs

    # The same forger again: the same unverified conversation, still not hers.
    harness.deliver(mail(VICTIM, "De novo", "e agora?", message_id=make_msgid(), authenticated=False))
    await wait_for(lambda: len(harness.bot.handled) == 2)
    assert harness.bot.handled[1].sender_id == contact
    assert await identities.db.run(lambda s: find_by_address(s, "email", VICTIM_ADDRESS)) == victim
    await keeps_answering_others(harness)


@pytest.mark.parametrize("results", [
    pytest.param([f"mx.evil.example; dkim=pass header.d=example.com; dmarc=pass header.from=example.com"],
                 id="forged-header-from-an-untrusted-authserv-id"),
    pytest.param([f"{MX}; spf=pass smtp.mailfrom=evil.example; dmarc=pass header.from=evil.example"],
                 id="dmarc-pass-for-another-domain"),
    pytest.param([f"{MX}; dkim=pass header.d=evil.example; dmarc=fail header.from=example.com"],
                 id="dkim-pass-for-an-unaligned-domain"),
    pytest.param([f"{MX}; dkim=pass header.i=@example.com.evil.example; dmarc=none"],
                 id="dkim-pass-for-a-lookalike-domain"),
    pytest.param([f"{MX}; dkim=fail header.d=example.com; dmarc=fail header.from=example.com",
                  f"{MX}; dkim=pass header.d=example.com; dmarc=pass header.from=example.com"],
                 id="forged-copy-of-our-header-below-our-verdict"),
    pytest.param([f"{MX}; dmarc=fail (dmarc=pass) header.from=example.com (dkim=pass header.d=example.com)"],
                 id="pass-only-inside-comments"),
])
async def test_authentication_results_that_do_not_vouch_for_the_from_are_not_believed(
        harness, identities, victim, caplog, results):
    caplog.set_level(logging.INFO, logger="connectors.email.channel")
    await harness.start()
    forged = mail(VICTIM, "Pedido", "Qual o status do meu pedido?", message_id=make_msgid(), authenticated=False)
    for value in results:  # in the order given: the first is the topmost, as a server prepends
        forged["Authentication-Results"] = value
    await answered_as_unverified_contact(harness, identities, victim, caplog, forged)
    await keeps_answering_others(harness)


async def test_authenticated_mail_from_the_customer_reaches_her_conversation(harness, identities, victim, caplog):
    caplog.set_level(logging.INFO, logger="connectors.email.channel")
    await harness.start()
    harness.deliver(mail(VICTIM, "Pedido", "Qual o status do meu pedido?", message_id=make_msgid()))
    [handled] = await wait_for(lambda: harness.bot.handled)
    assert handled.sender_id == victim and handled.metadata["sender_verified"] is True
    assert unverified_lines(caplog) == []


@pytest.mark.parametrize("attacker,authenticated", [
    pytest.param("Mallory <mallory@evil.example>", True, id="authenticated-stranger"),
    pytest.param(VICTIM, False, id="forged-from-of-the-thread-owner"),
])
async def test_a_reply_into_the_victims_thread_stays_with_its_sender(
        harness, identities, victim, caplog, attacker, authenticated):
    caplog.set_level(logging.INFO, logger="connectors.email.channel")
    await harness.start()
    first_id = make_msgid(domain="example.com")
    harness.deliver(mail(VICTIM, "Pedido TL-48213", "Meu pedido atrasou.", message_id=first_id))
    ours = (await wait_for(lambda: harness.outbox))[0]

    harness.deliver(mail(attacker, "Re: Pedido TL-48213", "Mudei de endereço, mandem para outro lugar.",
                         message_id=make_msgid(), in_reply_to=ours["Message-ID"],
                         references=f"{first_id} {ours['Message-ID']}", authenticated=authenticated))
    await wait_for(lambda: len(harness.bot.handled) == 2)
    hers, intruder = harness.bot.handled
    assert hers.sender_id == victim
    assert intruder.sender_id != victim and intruder.metadata["thread_matched"] is False
    [line] = [r for r in caplog.records if "thread headers name another customer" in r.getMessage()]
    assert victim not in line.getMessage() and "Mudei de endereço" not in caplog.text
    reply = (await wait_for(lambda: len(harness.outbox) == 2 and harness.outbox))[1]
    assert reply["In-Reply-To"] != ours["Message-ID"]  # never threaded onto her conversation
    await keeps_answering_others(harness)


async def test_without_authserv_id_every_mail_is_unverified_and_start_up_says_so_once(
        harness, identities, victim, caplog):
    caplog.set_level(logging.INFO, logger="connectors.email.channel")
    settings = settings_for(harness.dovecot, harness.smtp_port, harness.mailbox)
    await harness.run(EmailInput(settings.__class__(**{**settings.__dict__, "authserv_ids": frozenset()}),
                                 idle_s=2, send_retry_delays_s=(0.2,)))
    [warning] = [r for r in caplog.records if "EMAIL_AUTHSERV_ID" in r.getMessage()]
    assert warning.levelno == logging.WARNING

    # Even mail carrying our server's genuine verdict: no trusted server is configured.
    harness.deliver(mail(VICTIM, "Pedido", "Qual o status do meu pedido?", message_id=make_msgid()))
    [handled] = await wait_for(lambda: harness.bot.handled)
    assert handled.sender_id != victim and handled.metadata["sender_verified"] is False
    assert len([r for r in caplog.records if "EMAIL_AUTHSERV_ID" in r.getMessage()]) == 1


def turn_from(message, text: str, intent: str, **entities: str) -> Tracker:
    """The tracker the action server gets for the message the channel handed to Rasa."""
    return Tracker.from_dict({
        "sender_id": message.sender_id,
        "slots": {**{name: None for name in DOMAIN["slots"]}, **{k: v for k, v in entities.items() if k == "order_id"}},
        "latest_message": {
            "text": text, "intent": {"name": intent, "confidence": 0.95},
            "entities": [{"entity": k, "value": v, "start": 0, "end": 1} for k, v in entities.items()],
            "metadata": message.metadata,
        },
        "events": [], "paused": False, "followup_action": None, "active_loop": {},
        "latest_action_name": "action_listen", "latest_input_channel": "email",
    })


async def run(action, tracker: Tracker) -> list:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tracker, DOMAIN)
    return [m.get("text") or m.get("response") for m in dispatcher.messages]


async def claims_stored(identities) -> int:
    return await identities.db.run(lambda s: s.scalar(select(func.count()).select_from(IdentityClaim)))


@pytest.mark.parametrize("claimed", [
    pytest.param({"email": "me@evil.example"}, id="my-email-is-the-attackers"),
    pytest.param({"phone": "+5511987654321"}, id="the-victims-own-phone"),
])
async def test_a_forged_mail_cannot_start_a_claim(harness, identities, victim, claim_tools, caplog, claimed):
    _, sender = claim_tools
    caplog.set_level(logging.INFO)
    await harness.start()
    text = f"my email is {next(iter(claimed.values()))}"
    harness.deliver(mail(VICTIM, "Meu contato", text, message_id=make_msgid(), authenticated=False))
    [handled] = await wait_for(lambda: harness.bot.handled)

    said = await run(ActionClaimIdentity(), turn_from(handled, text, "provide_contact", **claimed))
    assert said == [UNVERIFIED_SENDER]
    assert sender.sent == [] and await claims_stored(identities) == 0
    [line] = [r for r in caplog.records if "action_claim_identity refused" in r.getMessage()]
    assert "not authenticated" in line.getMessage() and "evil.example" not in caplog.text


async def test_a_forged_mail_cannot_claim_someone_elses_order(harness, identities, victim, claim_tools, caplog):
    _, sender = claim_tools
    caplog.set_level(logging.INFO)
    await identities.db.run(lambda s: s.execute(update(Order).where(Order.id == "TL-48213").values(customer_id=victim)))
    await harness.start()
    harness.deliver(mail("Mallory <mallory@evil.example>", "Pedido", "status of TL-48213?",
                         message_id=make_msgid(), authenticated=False))
    [handled] = await wait_for(lambda: harness.bot.handled)
    said = await run(ActionOrderStatus(), turn_from(handled, "status of TL-48213?", "order_status",
                                                    order_id="TL-48213"))
    assert said == [UNVERIFIED_SENDER]  # not the order's status, not where a code went
    assert sender.sent == [] and await claims_stored(identities) == 0
    assert len([r for r in caplog.records if "action_order_status refused" in r.getMessage()]) == 1


async def test_a_code_typed_in_a_forged_mail_links_nothing(harness, identities, victim, claim_tools, caplog):
    tools, sender = claim_tools
    caplog.set_level(logging.INFO)
    await harness.start()
    harness.deliver(mail(VICTIM, "Código", "123456", message_id=make_msgid(), authenticated=False))
    [handled] = await wait_for(lambda: harness.bot.handled)
    contact = handled.sender_id
    # A claim pending for the unverified contact however it came about: its code is still refused.
    await tools.claim(contact, "me@evil.example")
    assert len(sender.sent) == 1

    said = await run(ActionVerifyIdentityClaim(), turn_from(handled, "123456", "provide_code"))
    assert said == [UNVERIFIED_SENDER]
    assert await identities.db.run(lambda s: find_by_address(s, "email", "me@evil.example")) is None
    assert len([r for r in caplog.records if "action_verify_identity_claim refused" in r.getMessage()]) == 1


async def test_an_unverified_contact_is_never_linked_or_merged(harness, identities, victim):
    await harness.start()
    harness.deliver(mail(VICTIM, "Oi", "oi", message_id=make_msgid(), authenticated=False))
    [handled] = await wait_for(lambda: harness.bot.handled)
    contact = handled.sender_id

    with pytest.raises(MergeRefused, match="unverified email contact"):
        await identities.merge()(victim, contact, actor="agent:test", reason="looks like the same person")
    with pytest.raises(MergeRefused, match="unverified email contact"):
        await identities.merge()(contact, victim, actor="agent:test", reason="looks like the same person")
    with pytest.raises(UnverifiedContact):
        await identities.link()(contact, "email", "me@evil.example", actor="agent:test", reason="asked to")
    assert (await profile(identities, victim))["aliases"] == []
    assert await identities.resolver.resolve("email", VICTIM_ADDRESS) == victim


async def test_the_timeline_shows_an_unverified_mail_as_unverified_sender(harness, identities, victim):
    await harness.start()
    harness.deliver(mail(VICTIM, "Oi", "sou a Ana", message_id=make_msgid(), authenticated=False))
    harness.deliver(mail("Bruno <bruno@example.org>", "Oi", "sou o Bruno", message_id=make_msgid()))
    await wait_for(lambda: len(harness.bot.handled) == 2)

    crm = SqlCrm(identities.db)
    for message in harness.bot.handled:  # the user events Rasa stores, as the timeline worker reads them
        event = {"event": "user", "text": message.text, "timestamp": 1_700_000_000.0,
                 "metadata": message.metadata, "message_id": message.message_id}
        records, _ = interactions_from_events(message.sender_id, [event], None)
        await crm.record_interactions(records)
    # Two customers: the inbox keeps each one's order, not an order between them.
    forged, genuine = sorted(harness.bot.handled, key=lambda m: m.metadata["address"] != VICTIM_ADDRESS)
    [entry] = await timeline_after(identities.db, forged.sender_id, 0)
    [other] = await timeline_after(identities.db, genuine.sender_id, 0)
    assert entry.unverified_sender is True and other.unverified_sender is False
    html = environment("en").get_template("_timeline_entries.html").render(entries=[entry, other])
    assert len(re.findall("unverified sender", html)) == 1
