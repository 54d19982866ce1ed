"""Guards and claims: no message while a case is open or a handoff runs, never after an opt-out,
at most one per customer per N days, none in quiet hours (postponed, not skipped), once per key;
alerts still go to people."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError

from threadline.crm.models import Case, Customer, Handoff, Interaction, OpportunityStageChange
from threadline.crm.models.followups import FollowUp
from threadline.followups.guards import QUIET
from threadline.followups.items import DueItem
from threadline.crm.opt_outs import clear_opt_out, record_opt_out
from threadline.followups.records import ALREADY, claim, finish, record_outcomes
from threadline.followups.rules import load_rules

ZONE = ZoneInfo("America/Sao_Paulo")  # UTC-3: 13:00 UTC is 10:00 there
NOON = datetime(2026, 12, 5, 13, 0)


@pytest.fixture
def rules():
    return load_rules()


@pytest.fixture
def customer(database):
    database.transaction(lambda s: s.add(Customer(id="cus_g", display_name="Bia")))
    return "cus_g"


def item(subject="opportunity:1", since=datetime(2026, 12, 1, 13, 0), case_id=None, channel="whatsapp"):
    return DueItem("stalled_lead", "cus_g", subject, since, since + timedelta(days=3), channel,
                   {"product": "Aurora lamp"}, case_id=case_id)


def try_claim(database, rules, due, at=NOON, action="message", opted_out=False):
    return database.transaction(lambda s: claim(s, due, action, at, rules, ZONE, opted_out), retry_conflicts=True)


def rows(database):
    return database.transaction(lambda s: [(r.action, r.status, r.reason) for r in
                                           s.query(FollowUp).order_by(FollowUp.id)])


def test_a_clear_customer_is_claimed_once(database, rules, customer):
    first = try_claim(database, rules, item())
    assert first.id is not None and first.reason is None
    assert try_claim(database, rules, item()).reason == ALREADY
    assert rows(database) == [("message", "planned", None)]


def test_an_open_complaint_stops_messages_but_not_alerts(database, rules, customer):
    database.transaction(lambda s: s.add(Case(id=7, customer_id=customer, topic="complaint", status="open")))
    assert try_claim(database, rules, item()).reason == "open_case"
    assert try_claim(database, rules, item(), action="alert").reason is None
    # A follow-up about that very case is not stopped by it.
    assert try_claim(database, rules, item("promise:3", case_id=7)).reason is None
    assert rows(database) == [("message", "skipped", "open_case"), ("alert", "planned", None),
                              ("message", "planned", None)]


def test_a_handoff_in_progress_stops_messages(database, rules, customer):
    database.transaction(lambda s: s.add(Handoff(id="hof_g", customer_id=customer, status="assigned",
                                                 reason="requested", priority=2)))
    assert try_claim(database, rules, item()).reason == "handoff_in_progress"


def test_never_after_an_opt_out_on_the_channel_or_everywhere_until_start(database, rules, customer):
    assert try_claim(database, rules, item("opportunity:1"), opted_out=True).reason == "opted_out"  # SMS STOP
    database.transaction(lambda s: record_opt_out(s, customer, "whatsapp", "request", NOON))
    assert try_claim(database, rules, item("opportunity:2")).reason == "opted_out"
    assert try_claim(database, rules, item("opportunity:3", channel="email")).reason is None
    database.transaction(lambda s: record_opt_out(s, customer, "*", "request", NOON))
    assert try_claim(database, rules, item("opportunity:4", channel="sms")).reason == "opted_out"
    assert database.transaction(lambda s: clear_opt_out(s, customer, "*")) == 2


def test_one_proactive_message_per_customer_every_three_days(database, rules, customer):
    first = try_claim(database, rules, item("opportunity:1"))
    database.transaction(lambda s: finish(s, first.id, "sent", NOON))
    assert try_claim(database, rules, item("opportunity:2"), at=NOON + timedelta(days=3)).reason == "messaged_recently"
    assert try_claim(database, rules, item("opportunity:3"), at=NOON + timedelta(days=3, seconds=1)).reason is None


def test_quiet_hours_postpone_without_recording(database, rules, customer):
    night = datetime(2026, 12, 6, 1, 0)  # 22:00 in São Paulo
    assert try_claim(database, rules, item(), at=night).reason == QUIET
    assert rows(database) == []
    assert try_claim(database, rules, item(), at=datetime(2026, 12, 6, 11, 0)).reason is None  # 08:00 there


def test_a_merged_customer_gets_nothing(database, rules, customer):
    def merge(s):
        s.add(Customer(id="cus_s"))
        s.flush()
        s.get(Customer, customer).merged_into = "cus_s"
    database.transaction(merge)
    assert try_claim(database, rules, item()).reason == "customer_gone"


def test_two_workers_racing_on_one_item_claim_it_once(database, rules, customer):
    results, barrier = [], threading.Barrier(4)

    def worker():
        barrier.wait()
        try:
            results.append(try_claim(database, rules, item()))
        except IntegrityError:  # only if retries ran out; counted as not ours
            results.append(None)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    owners = [r for r in results if r is not None and r.id is not None]
    assert len(owners) == 1
    assert rows(database) == [("message", "planned", None)]


def test_outcomes_replied_advanced_won_opted_out(database, rules, customer):
    from threadline.crm.models import Opportunity

    def setup(s):
        s.add_all([Customer(id="cus_r"), Customer(id="cus_w"), Customer(id="cus_o")])
        s.add(Opportunity(id=5, customer_id="cus_w", stage="qualified"))
        s.flush()
        for n, c, subject in ((1, "cus_r", "interaction:1"), (2, "cus_w", "opportunity:5"), (3, "cus_o", "opportunity:9")):
            s.add(FollowUp(key=f"k{n}", kind="stalled_lead", action="message", customer_id=c, subject=subject,
                           status="sent", channel="sms", due_at=NOON, planned_at=NOON, done_at=NOON))
        s.add(Interaction(customer_id="cus_r", author="customer", occurred_at=NOON + timedelta(hours=1),
                          idempotency_key="r1"))
        s.add(OpportunityStageChange(opportunity_id=5, stage="won", at=NOON + timedelta(hours=2)))
        record_opt_out(s, "cus_o", "sms", "sms_stop", NOON + timedelta(hours=3))
    database.transaction(setup)
    found = database.transaction(lambda s: record_outcomes(s, NOON + timedelta(days=1)))
    assert sorted(o for _, o in found) == ["opted_out", "replied", "won"]
    assert database.transaction(lambda s: record_outcomes(s, NOON + timedelta(days=2))) == []
