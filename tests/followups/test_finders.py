"""Finders with a fixed clock over a real CRM: stalled leads per stage, promises due and settled,
unanswered customers and unclaimed handoffs, purchase questions that never became an order."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from itertools import count

import pytest

from threadline.crm.models import (
    Case, Customer, Handoff, Interaction, Opportunity, OpportunityStageChange, Order, Promise)
from threadline.followups.finders import find_due, promises_due, settle_promises, stalled_leads, unanswered
from threadline.followups.rules import load_rules

T0 = datetime(2026, 12, 1, 10, 0)
_ids = count(1)


@pytest.fixture
def rules():
    return load_rules()


def say(session, customer_id, author, at, channel="whatsapp", intent=None, response=None, entities=()):
    n = next(_ids)
    session.add(Interaction(customer_id=customer_id, author=author, channel=channel, occurred_at=at, intent=intent,
                            response=response, idempotency_key=f"k{n}-{customer_id}",
                            entities=json.dumps([{"entity": e, "value": v} for e, v in entities])))


def lead(session, customer_id, stage, at, product="Aurora lamp"):
    session.add(Customer(id=customer_id, display_name="Ana"))
    session.flush()
    opportunity = Opportunity(customer_id=customer_id, product=product, stage=stage, created_at=at, last_touch_at=at,
                              channel="whatsapp")
    session.add(opportunity)
    session.flush()
    session.add(OpportunityStageChange(opportunity_id=opportunity.id, stage=stage, at=at))
    return opportunity.id


def due(database, rules, at, finder=None):
    finder = finder or (lambda s, now, r: find_due(s, now, now.date(), r))
    return database.transaction(lambda s: finder(s, at, rules))


def test_a_qualified_lead_stalls_after_three_days_a_proposal_after_two(database, rules):
    def setup(s):
        lead(s, "cus_q", "qualified", T0)
        say(s, "cus_q", "customer", T0, channel="instagram")
        lead(s, "cus_p", "proposal", T0)
        lead(s, "cus_n", "new", T0 - timedelta(days=30))
        lead(s, "cus_w", "won", T0 - timedelta(days=30))
    database.transaction(setup)
    assert due(database, rules, T0 + timedelta(days=2) - timedelta(seconds=1), stalled_leads) == []
    items = due(database, rules, T0 + timedelta(days=3) - timedelta(seconds=1), stalled_leads)
    assert [(i.customer_id, i.context["stage"]) for i in items] == [("cus_p", "proposal")]
    items = due(database, rules, T0 + timedelta(days=3), stalled_leads)
    assert sorted(i.customer_id for i in items) == ["cus_p", "cus_q"]
    qualified = next(i for i in items if i.customer_id == "cus_q")
    assert qualified.channel == "instagram"  # where the customer last wrote, not where the lead began
    assert qualified.context["product"] == "Aurora lamp"


def test_a_message_or_a_stage_change_restarts_the_wait_and_makes_a_new_item(database, rules):
    database.transaction(lambda s: lead(s, "cus_q", "qualified", T0))
    first = due(database, rules, T0 + timedelta(days=3), stalled_leads)
    database.transaction(lambda s: say(s, "cus_q", "customer", T0 + timedelta(days=3, hours=1), channel="sms"))
    assert due(database, rules, T0 + timedelta(days=5), stalled_leads) == []
    again = due(database, rules, T0 + timedelta(days=6, hours=1), stalled_leads)
    assert len(again) == 1 and again[0].key("message") != first[0].key("message")
    assert again[0].channel == "sms"


def test_merged_customers_get_nothing(database, rules):
    def setup(s):
        lead(s, "cus_old", "qualified", T0)
        s.add(Customer(id="cus_new"))
        s.flush()
        s.get(Customer, "cus_old").merged_into = "cus_new"
    database.transaction(setup)
    assert due(database, rules, T0 + timedelta(days=10), stalled_leads) == []


def promise(session, customer_id, due_date, order=None):
    session.add(Customer(id=customer_id))
    session.flush()
    case = Case(customer_id=customer_id, topic="late_order", order_id=order.id if order else None, channel="sms")
    if order is not None:
        session.add(order)
    session.add(case)
    session.flush()
    item = Promise(customer_id=customer_id, case_id=case.id, text="an update on your delivery", due_date=due_date)
    session.add(item)
    session.flush()
    return item.id


def test_promises_settle_kept_when_delivered_in_time_and_broken_when_the_date_passed(database, rules):
    def setup(s):
        return {
            "kept": promise(s, "cus_k", date(2026, 12, 4), Order(id="TL-1", sku="A", status="delivered",
                                                                  delivered_on=date(2026, 12, 3))),
            "late": promise(s, "cus_l", date(2026, 12, 4), Order(id="TL-2", sku="A", status="delivered",
                                                                  delivered_on=date(2026, 12, 6))),
            "open": promise(s, "cus_o", date(2026, 12, 4)),
            "future": promise(s, "cus_f", date(2026, 12, 9)),
        }
    ids = database.transaction(setup)
    settled = dict(database.transaction(lambda s: settle_promises(s, date(2026, 12, 5))))
    assert settled == {ids["kept"]: "kept", ids["late"]: "broken", ids["open"]: "broken"}
    on_the_day = database.transaction(lambda s: settle_promises(s, date(2026, 12, 4)))
    assert dict(on_the_day) == {ids["kept"]: "kept"}  # due today is not broken yet
    items = database.transaction(lambda s: promises_due(s, datetime(2026, 12, 4, 10), date(2026, 12, 4), rules))
    assert sorted(i.customer_id for i in items) == ["cus_l", "cus_o"]  # due today, not kept
    assert {i.context["promise"] for i in items} == {"an update on your delivery"}
    assert all(i.case_id is not None for i in items)


def test_an_unanswered_last_message_and_an_unclaimed_handoff(database, rules):
    def setup(s):
        for c in ("cus_a", "cus_b", "cus_h", "cus_c"):
            s.add(Customer(id=c))
        s.flush()
        say(s, "cus_a", "customer", T0)  # nobody answered
        say(s, "cus_b", "customer", T0)
        say(s, "cus_b", "bot", T0 + timedelta(seconds=2), response="utter_delivery_time")  # answered
        say(s, "cus_c", "customer", T0)
        say(s, "cus_c", "bot", T0 + timedelta(seconds=2), response="utter_default")  # a fallback is no answer
        say(s, "cus_h", "customer", T0)
        s.add(Handoff(id="hof_1", customer_id="cus_h", status="waiting", reason="requested", priority=2,
                      channel="sms", created_at=T0))
    database.transaction(setup)
    assert due(database, rules, T0 + timedelta(minutes=29), unanswered) == []
    items = due(database, rules, T0 + timedelta(minutes=30), unanswered)
    assert sorted((i.customer_id, i.subject.split(":")[0]) for i in items) == [
        ("cus_a", "interaction"), ("cus_c", "interaction"), ("cus_h", "handoff")]
    database.transaction(lambda s: setattr(s.get(Handoff, "hof_1"), "status", "assigned"))
    assert "cus_h" not in {i.customer_id for i in due(database, rules, T0 + timedelta(hours=1), unanswered)}


def test_a_price_question_with_no_order_after_two_days(database, rules):
    def setup(s):
        for c in ("cus_i", "cus_o", "cus_old"):
            s.add(Customer(id=c))
        s.flush()
        say(s, "cus_i", "customer", T0, intent="product_price", entities=[("product", "Aurora lamp")])
        say(s, "cus_i", "bot", T0 + timedelta(seconds=1), response="utter_offer_purchase")
        say(s, "cus_o", "customer", T0, intent="purchase_intent")
        s.add(Order(id="TL-9", customer_id="cus_o", sku="A", status="processing", placed_at=T0 + timedelta(hours=1)))
        say(s, "cus_old", "customer", T0 - timedelta(days=20), intent="purchase_intent")
    database.transaction(setup)
    assert [i for i in due(database, rules, T0 + timedelta(days=2) - timedelta(seconds=1))
            if i.kind == "intent_without_order"] == []
    items = [i for i in due(database, rules, T0 + timedelta(days=2)) if i.kind == "intent_without_order"]
    assert [(i.customer_id, i.context["product"]) for i in items] == [("cus_i", "Aurora lamp")]


def test_a_follow_ups_own_message_does_not_start_a_new_stall(database, rules):
    """Sent or refused by the provider, the follow-up's message is in the timeline; the stall it
    was about stays the same item (followed up once), until the customer or the lead moves."""
    def setup(s):
        lead(s, "cus_own", "qualified", T0)
        say(s, "cus_own", "customer", T0)
        say(s, "cus_own", "bot", T0 + timedelta(days=3), response="utter_followup_stalled_lead")
    database.transaction(setup)
    [item] = due(database, rules, T0 + timedelta(days=3, hours=1), stalled_leads)
    assert item.since == T0
    database.transaction(lambda s: say(s, "cus_own", "customer", T0 + timedelta(days=4)))
    assert due(database, rules, T0 + timedelta(days=5), stalled_leads) == []


def test_an_overdue_promise_goes_to_the_agent_who_made_it_while_they_are_active(database, rules):
    from threadline.crm.models import Agent

    def setup(s):
        s.add_all([Agent(id="agt_ana", name="ana", password_hash="x"),
                   Agent(id="agt_old", name="old", password_hash="x", active=False),
                   Customer(id="cus_pa"), Customer(id="cus_pb"), Customer(id="cus_pc")])
        s.flush()
        s.add_all([Promise(customer_id="cus_pa", text="call back", due_date=date(2026, 11, 30), agent_id="agt_ana"),
                   Promise(customer_id="cus_pb", text="call back", due_date=date(2026, 11, 30), agent_id="agt_old"),
                   Promise(customer_id="cus_pc", text="call back", due_date=date(2026, 11, 30))])
    database.transaction(setup)
    items = database.transaction(lambda s: promises_due(s, T0, T0.date(), rules))
    assert {i.customer_id: i.agent_id for i in items} == {"cus_pa": "agt_ana", "cus_pb": None, "cus_pc": None}
