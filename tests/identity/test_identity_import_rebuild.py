"""ImportContacts and RebuildIndex on both databases."""
from __future__ import annotations

import io

from threadline.crm.models import AuditEntry, Customer
from threadline.identity.contacts import ImportContacts
from threadline.identity.rebuild import RebuildIndex


async def test_imported_contacts_seed_identities_that_inbound_messages_match(services):
    csv = io.StringIO("Name,Email,Phone,External ID\nAna,ana@example.com,+55 92 98172-3241,A-1\n")
    report = await ImportContacts(services.db, services.index)(csv)
    assert (report.created, report.problems) == (1, [])
    ana = await services.resolver.resolve("whatsapp", "559281723241")  # old-form WhatsApp id
    assert await services.resolver.resolve("email", "ANA@example.com") == ana
    assert await services.db.run(lambda s: s.get(Customer, ana).external_id) == "A-1"
    # Until Ana writes by SMS, the imported number is still a way to reach her there.
    assert await services.resolver.reply_address(ana, "sms") == "+5592981723241"
    assert await services.resolver.reply_address(ana, "whatsapp") == "559281723241"


async def test_import_adds_identifiers_to_a_known_customer_and_never_merges_two(services):
    ana = await services.resolver.resolve("whatsapp", "5511987654321")
    bruno = await services.resolver.resolve("email", "bruno@example.com")
    csv = io.StringIO("name,email,phone,external_id\n"
                      "Ana,ana@example.com,5511987654321,\n"         # Ana's phone + a new email
                      "?,bruno@example.com,+5511987654321,\n")       # two customers: refused
    report = await ImportContacts(services.db, services.index)(csv, default_region="BR")
    assert (report.updated, [p["line"] for p in report.problems]) == (1, [3])
    assert await services.resolver.resolve("email", "ana@example.com") == ana
    assert await services.resolver.resolve("email", "bruno@example.com") == bruno
    assert await services.db.run(lambda s: [e.action for e in s.query(AuditEntry)]) == ["link"]


async def test_rebuild_index_restores_identifiers_aliases_and_routes(services):
    ana = await services.resolver.resolve("whatsapp", "5511987654321", attributes={"user_id": "BR.77"})
    await services.resolver.resolve("sms", "+5511987654321")
    insta = await services.resolver.resolve("instagram", "178414")
    await services.merge()(ana, insta, actor="ops", reason="same person")
    await services.index.client.flushdb()

    report = await RebuildIndex(services.db, services.index)()
    assert (report.identifiers, report.aliases, report.customers_with_routes) == (3, 1, 1)
    # Straight from Redis now: no CRM read needed for these answers.
    assert await services.index.routes(ana) == (
        {"whatsapp": "5511987654321", "sms": "+5511987654321", "instagram": "178414"}, "instagram")
    assert await services.index.canonical(insta) == ana
    hit = await services.index.lookup_and_touch(["wa_user:BR.77"], "whatsapp", "BR.77")
    assert hit.customer_id == ana
    assert await services.db.run(lambda s: s.query(Customer).count()) == 2
