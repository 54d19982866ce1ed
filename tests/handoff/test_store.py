"""Handoff records on SQLite and PostgreSQL: one open per customer, the queue order, the audit."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from threadline.crm.models import Customer, Handoff
from threadline.handoff.store import (
    OpenHandoff, get_handoff, handoff_events, open_handoff_for, open_handoffs,
)


def opener(database):
    return OpenHandoff(database)


async def test_opening_a_handoff_records_reason_priority_summary_and_pauses(database, crm):
    assert not await crm.crm.has_open_handoff("cus_ana")
    opened = await opener(database)("cus_ana", reason="complaint", channel="email",
                                    summary_text="Ana complains.", summary={"reason": "complaint"})
    handoff = opened.handoff
    assert opened.created and handoff.id.startswith("hof_")
    assert (handoff.status, handoff.reason, handoff.priority, handoff.channel) == ("waiting", "complaint", 1, "email")
    assert (handoff.summary_text, handoff.summary) == ("Ana complains.", {"reason": "complaint"})
    assert await crm.crm.has_open_handoff("cus_ana")
    assert not await crm.crm.has_open_handoff("cus_bob")
    assert await get_handoff(database, handoff.id) == handoff
    assert await open_handoff_for(database, "cus_ana") == handoff
    assert [(e.actor, e.kind) for e in await handoff_events(database, handoff.id)] == [("bot", "opened")]


async def test_a_second_trigger_returns_the_open_handoff_instead_of_a_new_one(database, crm):
    first = await opener(database)("cus_ana", reason="requested", channel="sms", summary_text="a", summary={})
    again = await opener(database)("cus_ana", reason="complaint", channel="sms", summary_text="b", summary={})
    assert not again.created and again.handoff == first.handoff
    assert len(await open_handoffs(database)) == 1


async def test_concurrent_triggers_for_one_customer_open_one_handoff(database, crm):
    results = await asyncio.gather(*[
        opener(database)("cus_ana", reason="requested", channel="sms", summary_text=str(i), summary={})
        for i in range(4)])
    assert sum(r.created for r in results) == 1
    assert len({r.handoff.id for r in results}) == 1


def test_the_database_refuses_two_open_handoffs_for_one_customer(database):
    def add_two(session):
        for n in (1, 2):
            session.add(Handoff(id=f"hof_{n}", customer_id="cus_ana", status="waiting",
                                reason="requested", priority=2))

    database.transaction(lambda s: s.add(Customer(id="cus_ana")))
    with pytest.raises(IntegrityError):
        database.transaction(add_two)


async def test_a_resolved_handoff_no_longer_pauses_and_a_new_one_can_open(database, crm):
    first = (await opener(database)("cus_ana", reason="requested", channel="sms", summary_text="", summary={})).handoff

    def resolve(session):
        row = session.get(Handoff, first.id)
        row.status, row.resolution = "resolved", "handed_back"

    database.transaction(resolve)
    assert not await crm.crm.has_open_handoff("cus_ana")
    assert await open_handoff_for(database, "cus_ana") is None
    second = await opener(database)("cus_ana", reason="not_understood", channel="sms", summary_text="", summary={})
    assert second.created and second.handoff.id != first.id and second.handoff.priority == 3


async def test_the_queue_is_ordered_by_priority_then_waiting_time(database, crm):
    for customer, reason in (("cus_1", "not_understood"), ("cus_2", "requested"), ("cus_3", "sensitive_topic"),
                             ("cus_4", "sales_ready"), ("cus_5", "complaint")):
        await opener(database)(customer, reason=reason, channel="whatsapp", summary_text="", summary={})

    def age(session):  # cus_4 has waited longest among the priority-2 ones
        session.scalars(select(Handoff).where(Handoff.customer_id == "cus_4")).one().created_at -= timedelta(minutes=5)

    database.transaction(age)
    assert [(h.customer_id, h.priority) for h in await open_handoffs(database)] == [
        ("cus_3", 1), ("cus_5", 1), ("cus_4", 2), ("cus_2", 2), ("cus_1", 3)]


async def test_unknown_reason_is_refused(database):
    with pytest.raises(ValueError):
        await opener(database)("cus_ana", reason="bored", channel=None, summary_text="", summary={})


async def test_hubspot_backend_answers_from_the_embedded_database(database, crm):
    from threadline.crm.hubspot import HubSpotApi, HubSpotCrm
    from threadline.crm.sql_backend import SqlCrm

    hubspot = HubSpotCrm(HubSpotApi("pat-unused", "http://127.0.0.1:9"), handoffs=SqlCrm(database))
    assert not await hubspot.has_open_handoff("cus_ana")
    await opener(database)("cus_ana", reason="requested", channel="sms", summary_text="", summary={})
    assert await hubspot.has_open_handoff("cus_ana")
    await hubspot.api.close()


def test_migration_0003_goes_down_and_up_again(database):
    from alembic import command
    from sqlalchemy import inspect

    from threadline.crm.db import alembic_config

    config = alembic_config(database.url)
    command.downgrade(config, "0002")
    assert not {"handoffs", "agents", "handoff_events"} & set(inspect(database.engine).get_table_names())
    command.upgrade(config, "head")
    assert {"handoffs", "agents", "handoff_events"} <= set(inspect(database.engine).get_table_names())
