"""The demo operation on SQLite and PostgreSQL: it fills, replaces itself, and feeds the metrics."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.insights.history import AFTER, History
from threadline.crm.models import Customer, Handoff, OpportunityStageChange
from threadline.insights import insights_report
from threadline.insights.demo import DemoOperation, DemoRefused
from tests.insights.history import NOVEMBER


def count(database, model):
    return database.transaction(lambda s: s.scalar(select(func.count()).select_from(model)))


async def test_demo_fills_replaces_itself_and_the_metrics_read_it(database):
    made = DemoOperation(database, customers=80, end=date(2026, 11, 30))()
    assert count(database, Customer) == 80 and made["messages"] > 300
    report = insights_report(database, NOVEMBER, as_of=AFTER)
    assert report.metrics["volume_by_channel"].value > 40
    remade = DemoOperation(database, customers=80, end=date(2026, 11, 30))()
    assert remade["replaced_earlier_demo"] is True and count(database, Customer) == 80
    assert count(database, Handoff) == made["handoffs"]
    assert count(database, OpportunityStageChange) >= made["opportunities"]
    again = insights_report(database, NOVEMBER, as_of=AFTER)
    # The same figures; row ids differ on PostgreSQL, whose sequences do not restart.
    assert figures(again) == figures(report)
    assert [len(m.rows) for m in again.metrics.values()] == [len(m.rows) for m in report.metrics.values()]


def figures(report):
    return {n: (m.value, m.numerator, m.denominator, m.details) for n, m in report.metrics.items()}


async def test_demo_refuses_a_real_operation(database):
    History(database).customer("cus_real")
    with pytest.raises(DemoRefused, match="not demo customers"):
        DemoOperation(database, customers=5, end=date(2026, 11, 30))()
    assert count(database, Customer) == 1
