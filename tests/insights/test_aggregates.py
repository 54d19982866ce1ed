"""The aggregate path gives exactly the figures of the full computation (issue #17, Scale).

On SQLite and PostgreSQL: every hand-built history of tests/insights/test_metrics.py and a demo
operation, rebuilt from the rows; and messages written through the timeline consumer's write
(`SqlCrm.record_interactions`) move the aggregates to what a rebuild from the rows gives.
"""
from __future__ import annotations

import inspect
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, select

from tests.insights import test_metrics
from tests.insights.history import AFTER, CONFIG, HOURS, NOVEMBER, History, local
from threadline.crm.interface import InteractionRecord
from threadline.crm.models import Interaction
from threadline.crm.models.base import utcnow
from threadline.crm.models.insights import InsightsCustomerDay, InsightsCycleState, InsightsDaily
from threadline.crm.sql_backend import SqlCrm
from threadline.insights import CHANNELS, Period, insights_report
from threadline.insights.aggregates import AGGREGATED, aggregated_metrics, rebuild_aggregates
from threadline.insights.demo import DemoOperation

HISTORIES = [name for name, f in inspect.getmembers(test_metrics, inspect.iscoroutinefunction)
             if name.startswith("test_") and "history" in inspect.signature(f).parameters]


def figures(metric):
    return metric.value, metric.numerator, metric.denominator, dict(metric.details)


def assert_same_as_full(database, period=NOVEMBER, as_of=AFTER):
    for channel in (None, *CHANNELS):
        full = insights_report(database, period, channel, as_of=as_of).metrics
        fast = aggregated_metrics(database, period.first, period.last, channel, as_of=as_of, config=CONFIG)
        assert set(fast) == set(AGGREGATED)
        for name, metric in fast.items():
            assert figures(metric) == figures(full[name]), (name, channel)


@pytest.mark.parametrize("name", HISTORIES)
async def test_aggregates_rebuilt_from_each_hand_built_history_equal_the_full_computation(name, history, database):
    try:
        await getattr(test_metrics, name)(history)
    except AssertionError:  # that test's own claims are checked by test_metrics; here only equality
        pass
    rebuild_aggregates(database, HOURS.zone)
    assert_same_as_full(database)


def tables(database):
    def read(session):
        return (sorted(tuple(r) for r in session.execute(select(
                    InsightsDaily.day, InsightsDaily.channel, InsightsDaily.customer_messages,
                    InsightsDaily.bot_messages, InsightsDaily.agent_messages, InsightsDaily.cycles))),
                sorted(tuple(r) for r in session.execute(select(
                    InsightsCustomerDay.day, InsightsCustomerDay.channel, InsightsCustomerDay.customer_id,
                    InsightsCustomerDay.previous_day))),
                sorted(tuple(r) for r in session.execute(select(
                    InsightsCycleState.customer_id, InsightsCycleState.cycle_start, InsightsCycleState.cycle_end))))
    return database.transaction(read)


async def replay_through_the_consumer_write(database):
    """Delete the interactions and write them again, in time order, as the timeline consumer does."""
    def take(session):
        rows = session.scalars(select(Interaction).order_by(Interaction.occurred_at, Interaction.id)).all()
        records = [InteractionRecord(r.customer_id, r.author, r.channel, r.text, r.occurred_at, r.idempotency_key,
                                     intent=r.intent, confidence=r.confidence, response=r.response) for r in rows]
        session.execute(delete(Interaction))
        for model in (InsightsDaily, InsightsCustomerDay, InsightsCycleState):
            session.execute(delete(model))
        return records
    records = database.transaction(take)
    crm = SqlCrm(database)
    batch = []
    for record in records:  # batches of one customer's consecutive messages, like the consumer's
        if batch and batch[-1].customer_id != record.customer_id:
            await crm.record_interactions(batch)
            batch = []
        batch.append(record)
    if batch:
        await crm.record_interactions(batch)
    return len(records)


async def test_the_consumer_write_keeps_the_aggregates_a_rebuild_gives(history, database, monkeypatch):
    monkeypatch.setenv("BUSINESS_TIMEZONE", "America/Sao_Paulo")
    a, b = history.customer("cus_a"), history.customer("cus_b")
    history.say(a, "bot", local(1, 9))  # before the customer ever wrote: no cycle
    history.say(a, "customer", local(2, 10), intent="order_status")
    history.say(a, "bot", local(2, 10, 0, 1))
    history.say(a, "customer", local(2, 23, 30), channel="email", intent="order_status")  # next local day, same cycle
    history.handoff(a, local(3, 9), resolved=local(3, 11))
    history.say(a, "customer", local(3, 12), intent="order_status")  # after a resolution: a new cycle
    history.say(a, "customer", local(5, 12), channel="sms", intent="greet")  # after 24 h of silence: another
    history.case(b, "delivery", local(9, 8), resolved=local(9, 9))
    history.say(b, "customer", local(9, 10), channel="instagram", intent="order_status")
    history.say(b, "agent", local(10, 9, 59), channel="instagram")
    history.say(b, "customer", local(11, 9, 58), channel="instagram", intent="thanks")  # 23h59 later: same cycle
    rebuild_aggregates(database, HOURS.zone)
    rebuilt = tables(database)
    assert_same_as_full(database)
    assert await replay_through_the_consumer_write(database) == 9
    assert tables(database) == rebuilt
    assert_same_as_full(database)
    cycles = {(day, channel): n for day, channel, _, _, _, n in rebuilt[0] if n}
    assert cycles == {(date(2026, 11, 2), "whatsapp"): 1, (date(2026, 11, 3), "whatsapp"): 1,
                      (date(2026, 11, 5), "sms"): 1, (date(2026, 11, 9), "instagram"): 1}


async def test_a_demo_operation_gives_the_same_figures_by_aggregates_and_by_the_full_computation(
        database, monkeypatch):
    monkeypatch.setenv("BUSINESS_TIMEZONE", "America/Sao_Paulo")
    DemoOperation(database, customers=120, end=date(2026, 11, 30), hours=HOURS)()
    rebuild_aggregates(database, HOURS.zone)
    rebuilt = tables(database)
    assert_same_as_full(database)
    assert_same_as_full(database, Period(date(2026, 11, 10), date(2026, 11, 16), HOURS))
    await replay_through_the_consumer_write(database)
    assert tables(database) == rebuilt


async def test_a_message_written_out_of_order_keeps_the_distinct_customers_exact(history, database, monkeypatch):
    monkeypatch.setenv("BUSINESS_TIMEZONE", "America/Sao_Paulo")
    crm = SqlCrm(database)
    for n, day in enumerate((5, 20, 3)):  # the 3rd arrives last
        await crm.record_interactions([InteractionRecord("cus_late", "customer", "whatsapp", "hi", local(day),
                                                         f"late:{n}", intent="greet")])
    written = tables(database)[1]
    rebuild_aggregates(database, HOURS.zone)
    assert written == tables(database)[1]
    for first, last in ((4, 30), (1, 30), (6, 19)):
        period = Period(date(2026, 11, first), date(2026, 11, last), HOURS)
        customers = aggregated_metrics(database, period.first, period.last)["volume_by_channel"].details["channels"]
        full = insights_report(database, period, as_of=AFTER).metrics["volume_by_channel"].details["channels"]
        assert customers == full


async def test_the_page_figures_follow_messages_and_handoffs_written_after_a_refresh(history, database, monkeypatch):
    monkeypatch.setenv("BUSINESS_TIMEZONE", "America/Sao_Paulo")
    crm = SqlCrm(database)
    ana = history.customer("cus_ana")
    await crm.record_interactions([InteractionRecord(ana, "customer", "whatsapp", "where is my order?", local(2, 10),
                                                     "ana:1", intent="order_status")])
    fast = aggregated_metrics(database, NOVEMBER.first, NOVEMBER.last, as_of=AFTER, config=CONFIG)
    assert fast["no_follow_up"].numerator == 1 and fast["first_useful_response"].numerator == 0
    # The bot answers through the consumer's write.
    await crm.record_interactions([InteractionRecord(ana, "bot", "whatsapp", "it ships today", local(2, 10, 0, 30),
                                                     "ana:2")])
    fast = aggregated_metrics(database, NOVEMBER.first, NOVEMBER.last, as_of=AFTER, config=CONFIG)
    assert fast["no_follow_up"].numerator == 0
    assert fast["first_useful_response"].value == 30.0
    assert (fast["handoff_rate"].numerator, fast["handoff_rate"].denominator) == (0, 1)
    # Another package's write, no message: an agent closes today a handoff opened on the 2nd.
    history.handoff(ana, local(2, 10, 1), reason="complaint", resolved=utcnow())
    fast = aggregated_metrics(database, NOVEMBER.first, NOVEMBER.last, as_of=AFTER, config=CONFIG)
    assert (fast["handoff_rate"].numerator, fast["handoff_rate"].denominator) == (1, 1)
    assert fast["handoff_rate"].details["by_reason"] == {"complaint": 1}
    assert_same_as_full(database)


async def test_windows_still_running_at_as_of_are_taken_back_as_the_full_computation_leaves_them_out(
        database, history, monkeypatch):
    """Asked the morning after the last day: answers pending within the limit, resolutions inside
    their 7 days and commercial cycles inside their silence are undecided, by both paths."""
    monkeypatch.setenv("BUSINESS_TIMEZONE", "America/Sao_Paulo")
    DemoOperation(database, customers=120, end=date(2026, 11, 30), hours=HOURS)()
    rebuild_aggregates(database, HOURS.zone)
    latest = database.transaction(lambda s: s.scalar(select(func.max(Interaction.occurred_at))))
    history.say(history.customer("cus_waiting"), "customer", latest, intent="order_status")  # nobody answers
    rebuild_aggregates(database, HOURS.zone)
    for hours_later in (1, 30, 80):
        as_of = latest + timedelta(hours=hours_later)
        assert_same_as_full(database, as_of=as_of)
    early = aggregated_metrics(database, NOVEMBER.first, NOVEMBER.last, as_of=latest + timedelta(hours=1),
                               config=CONFIG)
    late = aggregated_metrics(database, NOVEMBER.first, NOVEMBER.last, as_of=AFTER, config=CONFIG)
    assert early["durable_resolution"].denominator < late["durable_resolution"].denominator
    assert early["no_follow_up"].details["still_within_limit"] > 0


def test_migration_0010_goes_down_and_up_again_and_matches_the_model(database):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from threadline.crm.db import alembic_config
    from threadline.crm.models import Base

    tables = {"insights_cycles", "insights_cycle_counts", "insights_changed", "insights_watermark"}
    config = alembic_config(database.url)
    command.downgrade(config, "0009")
    assert not tables & set(inspect(database.engine).get_table_names())
    command.upgrade(config, "head")
    assert tables <= set(inspect(database.engine).get_table_names())
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if any(t in repr(d) for t in tables)] == []


def test_migration_0012_goes_down_and_up_again_and_matches_the_model(database):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from threadline.crm.db import alembic_config
    from threadline.crm.models import Base

    def indexes():
        found = inspect(database.engine)
        return {i["name"]: i["column_names"] for t in ("insights_cycles", "insights_customer_days",
                                                        "insights_cycle_counts") for i in found.get_indexes(t)}

    config = alembic_config(database.url)
    command.downgrade(config, "0011")
    before = indexes()
    assert before["ix_insights_cycles_day_channel"] == ["day", "channel"]
    assert "ix_insights_cycle_counts_sums" not in before
    command.upgrade(config, "head")
    after = indexes()
    assert "ix_insights_cycles_day_channel" not in after
    assert after["ix_insights_cycles_resolved"] == ["back", "resolved_at", "day", "channel", "resolved_how"]
    assert after["ix_insights_customer_days_day_previous"] == ["day", "channel", "previous_day"]
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migration_0013_indexes_what_the_refresh_looks_for_and_matches_the_model(database):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from threadline.crm.db import alembic_config
    from threadline.crm.models import Base

    indexed = {("handoffs", "created_at"), ("handoffs", "resolved_at"), ("cases", "created_at"),
               ("cases", "resolved_at"), ("channel_identities", "created_at"), ("orders", "placed_at"),
               ("opportunities", "created_at")}

    def found():
        tables = inspect(database.engine)
        return {(t, i["column_names"][0]) for t in {t for t, _ in indexed} for i in tables.get_indexes(t)
                if len(i["column_names"]) == 1}

    config = alembic_config(database.url)
    command.downgrade(config, "0012")
    assert not indexed & found()
    command.upgrade(config, "head")
    assert indexed <= found()
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


async def test_two_page_views_refreshing_at_once_count_each_cycle_once(database, monkeypatch):
    import asyncio

    from threadline.insights.cycle_facts import refresh_cycle_facts

    monkeypatch.setenv("BUSINESS_TIMEZONE", "America/Sao_Paulo")
    DemoOperation(database, customers=60, end=date(2026, 11, 30), hours=HOURS)()
    rebuild_aggregates(database, HOURS.zone)  # every customer marked: both refreshes find work
    done = await asyncio.gather(*(asyncio.to_thread(refresh_cycle_facts, database, HOURS) for _ in range(2)))
    assert sorted(done)[0] == 0 and sorted(done)[1] > 0  # the second waited for the first, found nothing left
    assert_same_as_full(database)
