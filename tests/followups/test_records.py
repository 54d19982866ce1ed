"""Migration 0009: followups and customer_opt_outs go down and up, match the models, and the key
of a due item is unique (two workers racing record it once)."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.exc import IntegrityError

from threadline.crm.models import Customer, CustomerOptOut, FollowUp

T0 = datetime(2026, 12, 5, 10, 0)


def test_migration_0009_goes_down_and_up_again_and_matches_the_models(database):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from threadline.crm.db import alembic_config
    from threadline.crm.models import Base

    config = alembic_config(database.url)
    command.downgrade(config, "0008")
    assert not {"followups", "customer_opt_outs"} & set(inspect(database.engine).get_table_names())
    command.upgrade(config, "head")
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if "followups" in repr(d) or "opt_outs" in repr(d)] == []


def test_one_row_per_key(database):
    database.transaction(lambda s: s.add(Customer(id="cus_f")))

    def plan(session):
        session.add(FollowUp(key="stalled_lead:opportunity:1:2026-12-01T10:00:00:message", kind="stalled_lead",
                             action="message", customer_id="cus_f", subject="opportunity:1", due_at=T0,
                             planned_at=T0))

    database.transaction(plan)
    with pytest.raises(IntegrityError):
        database.transaction(plan)
    database.transaction(lambda s: s.add_all([CustomerOptOut(customer_id="cus_f", channel="sms", source="sms_stop"),
                                              CustomerOptOut(customer_id="cus_f", channel="sms", source="request")]))
    assert database.transaction(lambda s: s.query(FollowUp).count()) == 1


def test_migration_0011_goes_down_and_up_again_and_matches_the_models(database):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from threadline.crm.db import alembic_config
    from threadline.crm.models import Base

    config = alembic_config(database.url)
    command.downgrade(config, "0010")
    assert "agent_id" not in {c["name"] for c in inspect(database.engine).get_columns("promises")}
    command.upgrade(config, "head")
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if "followups" in repr(d) or "promises" in repr(d)] == []
