"""MergeCustomers / UnlinkCustomer / LinkIdentities with the real tracker store, lock store,
Redis index and CRM database."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from threadline.crm.models import AuditEntry, ChannelIdentity, Customer, CustomerAlias
from threadline.identity.link import IdentityOwnedElsewhere
from threadline.identity.merge import MergeRefused, latest_merge_of
from tests.identity.helpers import save_turns, user_texts


async def _two_customers(services):
    ana = await services.resolver.resolve("whatsapp", "5511987654321")
    insta = await services.resolver.resolve("instagram", "17841400000000001")
    ana_events = await save_turns(services.histories, ana, [(1000.0, "a1"), (3000.0, "a2"), (5000.0, "a3")])
    insta_events = await save_turns(services.histories, insta, [(2000.0, "b1"), (4000.0, "b2")])
    return ana, insta, ana_events, insta_events


async def test_merge_combines_histories_in_time_order_and_keeps_the_old_id_as_alias(services):
    ana, insta, _, _ = await _two_customers(services)
    result = await services.merge()(ana, insta, actor="agent:carla", reason="same person, confirmed by phone")
    assert result.customer_id == ana

    assert user_texts(await services.histories.read_history(ana)) == ["a1", "b1", "a2", "b2", "a3"]
    assert await services.histories.read_history(insta) == []
    # Every channel and the old id now lead to one customer.
    assert await services.resolver.resolve("instagram", "17841400000000001") == ana
    assert await services.resolver.reply_address(insta, "instagram") == "17841400000000001"
    assert await services.resolver.reply_address(ana, "whatsapp") == "5511987654321"
    rows = await services.db.run(lambda s: (
        s.get(Customer, insta).merged_into, s.get(CustomerAlias, insta).customer_id,
        s.query(ChannelIdentity).filter_by(customer_id=insta).count(),
        [(e.action, e.actor, e.reason) for e in s.query(AuditEntry)]))
    assert rows == (ana, ana, 0, [("merge", "agent:carla", "same person, confirmed by phone")])


async def test_unlink_restores_two_customers_with_their_own_events(services):
    ana, insta, ana_events, insta_events = await _two_customers(services)
    merged = await services.merge()(ana, insta, actor="agent:carla", reason="looked like one person")
    # A message after the merge belongs to the merged conversation (the survivor).
    after = await save_turns(services.histories, ana, [(6000.0, "after merge")])
    assert user_texts(after) == ["a1", "b1", "a2", "b2", "a3", "after merge"]

    merge_id = await services.db.run(lambda s: latest_merge_of(s, insta))
    assert merge_id == merged.audit_id
    await services.unlink()(merge_id, actor="agent:carla", reason="wrong person")

    assert await services.histories.read_history(insta) == insta_events
    assert await services.histories.read_history(ana) == ana_events + after[len(ana_events) + len(insta_events):]
    assert await services.resolver.resolve("instagram", "17841400000000001") == insta
    assert await services.resolver.resolve("sms", "+5511987654321") == ana
    assert await services.resolver.reply_address(insta, "instagram") == "17841400000000001"
    assert await services.resolver.reply_address(insta, "whatsapp") is None
    audit = await services.db.run(lambda s: [(e.id, e.action, e.undone_by) for e in s.query(AuditEntry).order_by(AuditEntry.id)])
    assert [(a, u is not None) for _, a, u in audit] == [("merge", True), ("unlink", False)]
    # The operator can merge again after an unlink.
    again = await services.merge()(ana, insta, actor="agent:carla", reason="it was them after all")
    assert user_texts(await services.histories.read_history(ana)) == ["a1", "b1", "a2", "b2", "a3", "after merge"]
    assert again.customer_id == ana


async def test_merge_waits_for_both_conversation_locks(services):
    ana, insta, _, _ = await _two_customers(services)
    merge = asyncio.create_task(services.merge()(ana, insta, actor="ops", reason="test"))
    async with services.locks.lock(insta):  # a turn for the Instagram customer is running
        await asyncio.sleep(0.3)
        assert not merge.done()
        assert await services.histories.read_history(insta) != []
    await asyncio.wait_for(merge, 10)
    assert await services.histories.read_history(insta) == []


async def test_merge_refuses_the_same_customer_and_needs_who_and_why(services):
    ana, insta, _, _ = await _two_customers(services)
    with pytest.raises(MergeRefused):
        await services.merge()(ana, ana, actor="ops", reason="x")
    with pytest.raises(ValueError):
        await services.merge()(ana, insta, actor="", reason="")
    assert await services.resolver.resolve("instagram", "17841400000000001") == insta


async def test_link_adds_a_verified_identity_and_never_steals_one(services):
    ana, insta, _, _ = await _two_customers(services)
    link = await services.link()(ana, "email", "Ana <ANA@example.com>", actor="agent:carla", reason="told us on a call")
    assert await services.resolver.resolve("email", "ana@example.com") == ana
    with pytest.raises(IdentityOwnedElsewhere):
        await services.link()(insta, "sms", "+5511987654321", actor="agent:carla", reason="typo")
    await services.undo_link()(link.audit_id, actor="agent:carla", reason="wrong address")
    assert await services.resolver.resolve("email", "ana@example.com") not in (ana, insta)


async def test_a_timeline_write_racing_a_merge_ends_with_the_survivor(services, monkeypatch):
    """The CRM timeline read the Instagram customer's owner, then the merge committed, then the
    timeline wrote that customer's message: the row is the survivor's, as the merge's own are."""
    from threadline.crm import sql_backend
    from threadline.crm.interface import InteractionRecord
    from threadline.crm.models import Interaction

    ana, insta, _, _ = await _two_customers(services)
    loop = asyncio.get_running_loop()
    read_owner = sql_backend.current_owner
    merged_in_between = []

    def owner_then_merge(session, customer_id):
        owner = read_owner(session, customer_id)
        if not merged_in_between:  # the timeline's first read, in its worker thread
            merged_in_between.append(asyncio.run_coroutine_threadsafe(
                services.merge()(ana, insta, actor="ops", reason="race"), loop).result(30))
        return owner

    monkeypatch.setattr(sql_backend, "current_owner", owner_then_merge)
    crm = sql_backend.SqlCrm(services.db)
    record = InteractionRecord(customer_id=insta, author="customer", channel="instagram", text="the code",
                               occurred_at=datetime.now(timezone.utc), idempotency_key="evt:race")
    assert await crm.record_interactions([record]) == 1

    assert merged_in_between
    owners = await services.db.run(lambda s: [row.customer_id for row in s.query(Interaction)])
    assert owners == [ana]
