"""Passes on events: with the scheduled pass an hour away, a customer writing again closes their
follow-up task within seconds (a pass for that customer only), and a lead's stage change is
news too; a customer with no news gets no pass."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from threadline.crm.models import Customer, Interaction, Opportunity, OpportunityStageChange, Promise
from threadline.crm.models.followups import FollowUp
from threadline.followups.clock import FixedClock
from threadline.followups.events import CustomerChanges, keep_passing
from threadline.followups.rules import load_rules
from threadline.followups.run import RunFollowUps
from tests.support.waiting import wait_for

ZONE = ZoneInfo("America/Sao_Paulo")
AT = datetime(2026, 12, 5, 13, 0)


class CountingRun:
    """The real pass, remembering who each pass was for."""

    def __init__(self, run: RunFollowUps) -> None:
        self.run = run
        self.calls = []

    async def __call__(self, customers=None):
        self.calls.append(None if customers is None else list(customers))
        return await self.run(customers)


def outcome(database, customer_id):
    return database.transaction(lambda s: s.scalar(select(FollowUp.outcome).where(
        FollowUp.customer_id == customer_id, FollowUp.action == "alert")))


async def test_a_customer_writing_again_closes_their_task_without_waiting_for_the_schedule(database):
    def setup(s):
        s.add_all([Customer(id="cus_e", language="en"), Customer(id="cus_quiet", language="en")])
        s.flush()
        s.add_all([Promise(customer_id=c, text="a call back", due_date=date(2026, 12, 4)) for c in ("cus_e", "cus_quiet")])
    database.transaction(setup)
    run = CountingRun(RunFollowUps(database, None, load_rules(), FixedClock(AT), ZONE))
    stop = asyncio.Event()
    status = {"passes": 0, "event_passes": 0, "last_pass_at": None, "last_error": None}
    loop = asyncio.create_task(keep_passing(run, CustomerChanges(database), 3600, 0.1, stop, status))
    try:
        await wait_for(lambda: status["passes"] == 1, timeout=20)
        assert outcome(database, "cus_e") is None and outcome(database, "cus_quiet") is None  # two open tasks
        database.transaction(lambda s: s.add(Interaction(customer_id="cus_e", author="customer", channel="sms",
                                                         occurred_at=AT + timedelta(minutes=5), idempotency_key="e1")))
        assert await wait_for(lambda: outcome(database, "cus_e"), timeout=20) == "replied"
        assert ["cus_e"] in run.calls and status["passes"] == 1  # an event pass, the schedule still an hour away
        assert outcome(database, "cus_quiet") is None
        assert all(call in (None, ["cus_e"]) for call in run.calls)
    finally:
        stop.set()
        await loop
    assert status["last_error"] is None


async def test_a_stage_change_is_news_for_the_leads_customer(database):
    def setup(s):
        s.add(Customer(id="cus_s"))
        s.flush()
        s.add(Opportunity(id=7, customer_id="cus_s", product="Aurora lamp", stage="qualified", created_at=AT,
                          last_touch_at=AT))
    database.transaction(setup)
    changes = CustomerChanges(database)
    assert await changes() == set()  # the first look starts from now
    database.transaction(lambda s: s.add(OpportunityStageChange(opportunity_id=7, stage="proposal", at=AT)))
    assert await changes() == {"cus_s"}
    assert await changes() == set()
