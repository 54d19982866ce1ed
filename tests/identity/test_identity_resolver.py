"""IdentityResolver against a real Redis and a real CRM database (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio

import pytest

from threadline.crm import Database
from threadline.crm.models import ChannelIdentity, Customer
from threadline.identity.addresses import InvalidAddress
from threadline.identity.services import IdentityServices


async def test_same_phone_on_whatsapp_and_sms_is_one_customer(services):
    resolver = services.resolver
    on_whatsapp = await resolver.resolve("whatsapp", "5511987654321", profile_name="Ana")
    on_sms = await resolver.resolve("sms", "+55 11 98765-4321")
    assert on_whatsapp == on_sms
    assert on_whatsapp.startswith("cus_")
    # Replies go to exactly what each provider sent.
    assert await resolver.reply_address(on_whatsapp, "whatsapp") == "5511987654321"
    assert await resolver.reply_address(on_whatsapp, "sms") == "+55 11 98765-4321"
    assert await resolver.latest_route(on_whatsapp) == ("sms", "+55 11 98765-4321")


async def test_brazilian_old_form_and_ninth_digit_form_are_one_customer(services):
    old_form = await services.resolver.resolve("whatsapp", "559281723241")
    new_form = await services.resolver.resolve("sms", "+55 92 98172-3241")
    assert old_form == new_form
    assert await services.resolver.reply_address(old_form, "whatsapp") == "559281723241"


async def test_different_people_get_different_customers(services):
    ana = await services.resolver.resolve("whatsapp", "5511987654321")
    bruno = await services.resolver.resolve("whatsapp", "5511987654322")
    insta = await services.resolver.resolve("instagram", "17841400000000001")
    assert len({ana, bruno, insta}) == 3


async def test_mexican_521_and_twilio_whatsapp_prefix(services):
    wa = await services.resolver.resolve("whatsapp", "5215512345678")
    twilio = await services.resolver.resolve("sms", "whatsapp:+525512345678")
    assert wa == twilio
    assert await services.resolver.reply_address(wa, "sms") == "whatsapp:+525512345678"


async def test_whatsapp_user_id_is_stored_beside_the_phone_and_resolves_alone(services):
    customer = await services.resolver.resolve("whatsapp", "5511987654321", attributes={"user_id": "BR.1234567890"})
    # Later the same user arrives with only the business-scoped id (no phone).
    assert await services.resolver.resolve("whatsapp", "BR.1234567890") == customer
    keys = await services.db.run(lambda s: sorted(
        r.key for r in s.query(ChannelIdentity).filter_by(customer_id=customer)))
    assert keys == ["phone:+5511987654321", "wa_user:BR.1234567890"]


async def test_route_follows_the_channel_used_last(services):
    customer = await services.resolver.resolve("whatsapp", "5511987654321")
    assert await services.resolver.latest_route(customer) == ("whatsapp", "5511987654321")
    await services.resolver.resolve("sms", "+5511987654321")
    await services.resolver.resolve("whatsapp", "5511987654321")
    assert await services.resolver.latest_route(customer) == ("whatsapp", "5511987654321")
    assert await services.resolver.reply_address(customer, "email") is None


async def test_index_lost_then_crm_answers_the_same(services):
    customer = await services.resolver.resolve("sms", "+5511987654321")
    await services.index.clear()  # Redis lost everything
    assert await services.resolver.resolve("whatsapp", "5511987654321") == customer
    assert await services.db.run(lambda s: s.query(Customer).count()) == 1
    # Routes are rebuilt from the CRM mirror.
    assert await services.resolver.reply_address(customer, "sms") == "+5511987654321"


async def test_the_customers_language_once_known(services):
    customer = await services.resolver.resolve("whatsapp", "5511987654321")
    assert await services.resolver.language(customer) is None
    await services.resolver.db.run(lambda s: setattr(s.get(Customer, customer), "language", "pt"))
    assert await services.resolver.language(customer) == "pt"
    assert await services.resolver.language("cus_nobody") is None


async def test_invalid_addresses_are_refused_with_a_clear_error(services):
    for channel, address in [("sms", "hello"), ("email", "not-an-email"), ("whatsapp", ""), ("fax", "1")]:
        with pytest.raises(InvalidAddress):
            await services.resolver.resolve(channel, address)
    assert await services.db.run(lambda s: s.query(Customer).count()) == 0


async def test_two_simultaneous_first_messages_create_exactly_one_customer(crm_url, redis_url):
    """Two workers (own Redis clients and DB engines) get the same new phone at once on two
    channels, 100 times with 100 different phones."""
    workers = [IdentityServices(Database(crm_url), redis_url) for _ in range(2)]
    try:
        for n in range(100):
            phone = f"55119{n:08d}"
            results = await asyncio.gather(
                workers[0].resolver.resolve("whatsapp", phone),
                workers[1].resolver.resolve("sms", f"+{phone}"),
            )
            assert results[0] == results[1], f"run {n}: two customers for one phone"
        customers = await workers[0].db.run(lambda s: s.query(Customer).count())
        assert customers == 100
    finally:
        for worker in workers:
            await worker.close()
