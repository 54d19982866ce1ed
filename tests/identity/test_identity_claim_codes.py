"""One-time codes through the real channel outputs (`ChannelCodeSender`), and order claims.

The codes go to a real SMTP server (aiosmtpd) and to the sandbox WhatsApp/Twilio provider,
exactly as the action server sends them.
"""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from connectors.code_sender import EMAIL_SUBJECT, CodeNotSent
from connectors.webhook.records import ChannelRecords
from connectors.webhook.text import sms_segments
from threadline.crm.demo_shop import SeedDemoShop
from threadline.crm.models import IdentityClaim, Order
from threadline.identity.claims import ClaimIdentity, NothingToClaim, VerifyClaim
from tests.identity.helpers import save_turns, user_texts

IGSID = "17841400000000001"
CODE = re.compile(r"(?:verification code is|Threadline code:|verificação da Threadline é|Codigo Threadline:) (\d{6})\.")


def code_in_mail(message) -> str:
    return CODE.search(message.get_body(("plain",)).get_content()).group(1)


def code_in_text(text: str) -> str:
    return CODE.search(text).group(1)


@pytest.fixture
async def ana(services):
    """Ana wrote by email before; her record has an order."""
    customer = await services.resolver.resolve("email", "Ana Souza <ana@example.com>")
    await save_turns(services.histories, customer, [(1000.0, "hello from ana")])
    return customer


@pytest.fixture
async def stranger(services):
    customer = await services.resolver.resolve("instagram", IGSID)
    await save_turns(services.histories, customer, [(2000.0, "I'm ana@example.com")])
    return customer


async def test_email_claim_code_arrives_by_smtp_and_links_only_with_it(services, claim_limits, channel_sender, outbox, ana, stranger):
    claim = ClaimIdentity(services.db, channel_sender, claim_limits)
    verify = VerifyClaim(services.db, services.index, services.merge())
    started = await claim(stranger, "ana@example.com")
    assert started.sent_to == "a•••@example.com"
    [mail] = outbox
    assert (mail["To"], mail["X-Envelope-To"]) == ("ana@example.com", "ana@example.com")
    assert EMAIL_SUBJECT in mail["Subject"]  # (the email output composes every mail as a reply: "Re: …")
    assert mail["From"].addresses[0].addr_spec == "shop@example.com"
    code = code_in_mail(mail)
    assert "hello from ana" not in mail.get_body(("plain",)).get_content()

    assert (await verify(stranger, f"{(int(code) + 1) % 10 ** 6:06d}")).status == "wrong_code"
    assert await services.resolver.resolve("instagram", IGSID) == stranger
    outcome = await verify(stranger, code)
    assert (outcome.status, outcome.customer_id) == ("verified", ana)
    assert await services.resolver.resolve("instagram", IGSID) == ana
    assert user_texts(await services.histories.read_history(ana)) == ["hello from ana", "I'm ana@example.com"]


async def test_phone_code_goes_by_whatsapp_inside_the_window_else_by_sms(services, claim_limits, channel_sender, sandbox, stranger,
                                                                         channel_env):
    owner = await services.resolver.resolve("whatsapp", "559281723241")  # old Brazilian form
    claim = ClaimIdentity(services.db, channel_sender, claim_limits)
    records = ChannelRecords(channel_sender.runtime.redis)

    await records.inbound_seen("whatsapp", "559281723241", None)  # wrote a minute ago: window open
    started = await claim(stranger, "+55 92 98172-3241")
    assert started.sent_to == "•••• 3241"
    [whatsapp] = sandbox.sent
    assert (whatsapp["channel"], whatsapp["to"]) == ("whatsapp", "559281723241")
    code_in_text(whatsapp["body"]["text"]["body"])

    await channel_sender.runtime.redis.delete("tl:out:window:whatsapp:559281723241")  # window closed
    sandbox.sent.clear()
    await claim(stranger, "+55 92 98172-3241")
    [sms] = sandbox.sent
    assert (sms["channel"], sms["to"], sms["body"]["From"]) == ("sms", "+5592981723241", channel_env["TWILIO_FROM_NUMBER"])
    code = code_in_text(sms["body"]["Body"])
    assert sms_segments(sms["body"]["Body"]) == ("GSM-7", 1)
    outcome = await VerifyClaim(services.db, services.index, services.merge())(stranger, code)
    assert (outcome.status, outcome.customer_id) == ("verified", owner)


async def test_a_code_the_provider_refuses_fails_the_claim(services, claim_limits, channel_sender, sandbox, stranger):
    sandbox.faults["sms"].append((400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}))
    with pytest.raises(CodeNotSent):
        await ClaimIdentity(services.db, channel_sender, claim_limits)(stranger, "+55 21 99876-5432")
    statuses = await services.db.run(lambda s: [c.status for c in s.query(IdentityClaim)])
    assert statuses == ["failed"]
    outcome = await VerifyClaim(services.db, services.index, services.merge())(stranger, "000000")
    assert outcome.status == "no_claim"


async def test_order_claim_sends_the_code_to_the_order_owner_and_merges(services, claim_limits, channel_sender, outbox, ana, stranger):
    SeedDemoShop(services.db, date.today())()
    await services.db.run(lambda s: setattr(s.get(Order, "TL-48213"), "customer_id", ana))
    claim = ClaimIdentity(services.db, channel_sender, claim_limits)

    assert await claim.order(stranger, "tl-48213") is None  # nothing said about where the code went
    [mail] = outbox
    assert mail["To"] == "ana@example.com"
    outcome = await VerifyClaim(services.db, services.index, services.merge())(stranger, code_in_mail(mail))
    assert (outcome.status, outcome.customer_id) == ("verified", ana)
    assert await services.resolver.resolve("instagram", IGSID) == ana
    owners = await services.db.run(lambda s: s.scalars(select(Order.customer_id).where(Order.id == "TL-48213")).all())
    assert owners == [ana]


async def test_unowned_unknown_or_own_orders_and_own_addresses_need_no_code(services, claim_limits, channel_sender,
                                                                            outbox, sandbox, ana, stranger):
    SeedDemoShop(services.db, date.today())()
    await services.db.run(lambda s: setattr(s.get(Order, "TL-50927"), "customer_id", stranger))
    claim = ClaimIdentity(services.db, channel_sender, claim_limits)
    for order_id in ("TL-48213", "TL-99999", "TL-50927"):  # nobody's, no such order, the claimant's own
        with pytest.raises(NothingToClaim):
            await claim.order(stranger, order_id)
    with pytest.raises(NothingToClaim):
        await claim(ana, "ANA@example.com")
    assert outbox == [] and sandbox.sent == []
    assert await services.db.run(lambda s: s.query(IdentityClaim).count()) == 0


async def test_a_portuguese_claimant_gets_the_code_in_portuguese_by_email(services, claim_limits, channel_sender,
                                                                         outbox, ana, stranger):
    await ClaimIdentity(services.db, channel_sender, claim_limits)(stranger, "ana@example.com", "pt")
    [mail] = outbox
    assert mail["Subject"] == "Re: Seu código de verificação da Threadline"
    body = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    code = code_in_mail(mail)
    assert body == (
        "Olá,\n\n"
        f"Seu código de verificação da Threadline é {code}. Alguém pediu para vincular este endereço de e-mail à "
        "conversa que tem com a gente; se foi você, digite o código lá. Ele vale por 10 minutos. Se não foi você, "
        "ignore esta mensagem.\n\n"
        "Atenciosamente,\nEquipe de atendimento\n")
    outcome = await VerifyClaim(services.db, services.index, services.merge())(stranger, code)
    assert (outcome.status, outcome.customer_id) == ("verified", ana)


async def test_a_portuguese_claimant_gets_the_code_in_portuguese_by_whatsapp_and_in_one_gsm7_sms(
        services, claim_limits, channel_sender, sandbox, stranger):
    await services.resolver.resolve("whatsapp", "559281723241")
    claim = ClaimIdentity(services.db, channel_sender, claim_limits)
    await ChannelRecords(channel_sender.runtime.redis).inbound_seen("whatsapp", "559281723241", None)
    await claim(stranger, "+55 92 98172-3241", "pt")
    [whatsapp] = sandbox.sent
    text = whatsapp["body"]["text"]["body"]
    assert text.startswith(f"Seu código de verificação da Threadline é {code_in_text(text)}. Alguém pediu para "
                           "vincular este número de telefone")

    await channel_sender.runtime.redis.delete("tl:out:window:whatsapp:559281723241")  # window closed: SMS
    sandbox.sent.clear()
    await claim(stranger, "+55 92 98172-3241", "pt")
    [sms] = sandbox.sent
    text = sms["body"]["Body"]
    assert text == (f"Codigo Threadline: {code_in_text(text)}. Alguem pediu para vincular este numero a uma conversa "
                    "conosco; se foi voce, digite-o la. Vale 10 min. Nao foi voce? Ignore.")
    assert sms_segments(text) == ("GSM-7", 1)
