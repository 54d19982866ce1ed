"""What the CRM now records for the metrics (migration 0006): a bot message's response name and
when each opportunity entered each stage."""
from __future__ import annotations

from sqlalchemy import inspect, select

from threadline.crm.models import OpportunityStageChange
from threadline.crm.sql_backend import SqlCrm
from threadline.crm.timeline import interactions_from_events


async def test_a_bot_message_keeps_its_response_name(database):
    events = [
        {"event": "user", "text": "hi", "timestamp": 1_793_000_000.0, "parse_data": {"intent": {"name": "greet"}},
         "metadata": {"channel": "sms"}},
        {"event": "bot", "text": "Hi!", "timestamp": 1_793_000_001.0, "metadata": {"utter_action": "utter_greet"}},
        {"event": "bot", "text": "Order TL-1 is on its way.", "timestamp": 1_793_000_002.0},
    ]
    records, _ = interactions_from_events("cus_ana", events, None)
    crm = SqlCrm(database)
    assert await crm.record_interactions(records) == 3
    stored = await crm.timeline("cus_ana")
    assert [(r.author, r.response) for r in stored] == [("customer", None), ("bot", "utter_greet"), ("bot", None)]


async def test_each_stage_an_opportunity_enters_is_recorded_once(database):
    crm = SqlCrm(database)
    lead = await crm.touch_opportunity("cus_ana", product="Aurora Desk Lamp", stage="new", channel="sms")
    await crm.touch_opportunity("cus_ana", product="Aurora Desk Lamp", stage="qualified")
    await crm.touch_opportunity("cus_ana", product="Aurora Desk Lamp", stage="qualified")  # no change
    await crm.touch_opportunity("cus_ana", product="Aurora Desk Lamp", stage="new")  # never demoted
    stages = database.transaction(lambda s: s.scalars(select(OpportunityStageChange.stage).where(
        OpportunityStageChange.opportunity_id == int(lead.id)).order_by(OpportunityStageChange.id)).all())
    assert stages == ["new", "qualified"]


def test_migration_0006_goes_down_and_up_again(database):
    from alembic import command

    from threadline.crm.db import alembic_config

    config = alembic_config(database.url)
    command.downgrade(config, "0005")
    tables = inspect(database.engine)
    assert "opportunity_stage_changes" not in tables.get_table_names()
    assert "response" not in {c["name"] for c in tables.get_columns("interactions")}
    command.upgrade(config, "head")
    tables = inspect(database.engine)
    assert "opportunity_stage_changes" in tables.get_table_names()
    assert "close_label" in {c["name"] for c in tables.get_columns("handoffs")}


def test_an_odd_response_name_is_dropped_not_the_message():
    events = [{"event": "bot", "text": "Hi!", "timestamp": 1_793_000_001.0, "metadata": {"utter_action": ["x"]}}]
    records, _ = interactions_from_events("cus_ana", events, "sms")
    assert [(r.text, r.response) for r in records] == [("Hi!", None)]
