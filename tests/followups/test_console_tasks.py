"""Alerts become console tasks: an overdue promise shows in the agent console's queue with its
priority, a summary and a suggested message, and leaves it when the customer writes again; a
delivered order settles its promise as kept, and a kept promise alerts nobody. A promise an agent
made goes to that agent; an agent who reads Portuguese reads the summary in Portuguese."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from threadline.crm.models import Case, Customer, Interaction, Order, Promise
from threadline.followups.alerts import ConsoleAlert
from threadline.followups.clock import FixedClock
from threadline.followups.messages import load_responses
from threadline.followups.rules import load_rules
from threadline.followups.run import RunFollowUps
from tests.console.conftest import agents, console, db, log_in  # noqa: F401

ZONE = ZoneInfo("America/Sao_Paulo")
AT = datetime(2026, 12, 5, 13, 0)  # 10:00 in São Paulo


def promise_for(db, customer_id, order):  # noqa: F811
    def setup(s):
        s.add(Customer(id=customer_id, display_name=f"Name of {customer_id}", language="en"))
        s.add(order)
        s.flush()
        case = Case(customer_id=customer_id, topic="late_order", order_id=order.id, channel="sms")
        s.add(case)
        s.flush()
        s.add(Interaction(customer_id=customer_id, author="customer", channel="sms", occurred_at=AT - timedelta(days=3),
                          idempotency_key=f"{customer_id}-1"))
        s.add(Interaction(customer_id=customer_id, author="bot", channel="sms", occurred_at=AT - timedelta(days=3),
                          idempotency_key=f"{customer_id}-2", response="utter_delivery_time"))
        s.add(Promise(customer_id=customer_id, case_id=case.id, text="an update on your delivery",
                      due_date=date(2026, 12, 4)))
    db.transaction(setup)


def run_at(db, at):  # noqa: F811
    responses = load_responses()
    return RunFollowUps(db, None, load_rules(), FixedClock(at), ZONE, alert=ConsoleAlert(db, responses),
                        responses=responses)()


async def test_an_overdue_promise_becomes_a_console_task_until_the_customer_writes(console, db):  # noqa: F811
    promise_for(db, "cus_late", Order(id="TL-700", sku="A", status="shipped", customer_id="cus_late"))
    promise_for(db, "cus_kept", Order(id="TL-701", sku="A", status="delivered", customer_id="cus_kept",
                                      delivered_on=date(2026, 12, 3)))
    report = await run_at(db, AT)
    assert report.settled == {"kept": 1, "broken": 1}
    assert [(d.customer_id, d.kind, d.outcome) for d in report.decisions] == [("cus_late", "promise_due", "alerted")]
    statuses = db.transaction(lambda s: {p.customer_id: p.status for p in s.query(Promise)})
    assert statuses == {"cus_late": "broken", "cus_kept": "kept"}

    await log_in(console, "ana")
    page = await (await console.get("/")).text()
    assert "Follow-ups" in page and 'data-followup="' in page
    assert "Name of cus_late" in page and "Name of cus_kept" not in page
    assert "Promise due 4 Dec (order TL-700) not kept yet: an update on your delivery. Open: 1 case." in page
    assert "We haven&#39;t forgotten" in page or "we haven&#39;t forgotten" in page  # the suggested message
    assert '<tr class="priority-1" data-followup=' in page

    db.transaction(lambda s: s.add_all([
        Interaction(customer_id="cus_late", author="customer", channel="sms", occurred_at=AT + timedelta(hours=1),
                    idempotency_key="late-3"),
        Interaction(customer_id="cus_late", author="bot", channel="sms", occurred_at=AT + timedelta(hours=1),
                    idempotency_key="late-4", response="utter_delivery_time")]))
    await run_at(db, AT + timedelta(hours=2))
    page = await (await console.get("/")).text()
    assert "Name of cus_late" not in page and 'data-followup="' not in page


async def test_a_promise_an_agent_made_is_their_task_and_says_so_in_their_language(console, db, agents):  # noqa: F811
    from threadline.crm.models import Agent

    promise_for(db, "cus_mine", Order(id="TL-702", sku="A", status="shipped", customer_id="cus_mine"))
    promise_for(db, "cus_queue", Order(id="TL-703", sku="A", status="shipped", customer_id="cus_queue"))

    def made_by_ana(s):
        s.query(Promise).filter(Promise.customer_id == "cus_mine").update({"agent_id": agents["ana"].id})
        s.get(Agent, agents["bruno"].id).language = "pt"
    db.transaction(made_by_ana)
    await run_at(db, AT)

    await log_in(console, "ana")
    page = await (await console.get("/")).text()
    assert "Name of cus_mine" in page and "Name of cus_queue" in page
    mine = page[page.index("Name of cus_mine"):]
    assert mine[:mine.index("</tr>")].count('class="mine"') == 1
    queued = page[page.index("Name of cus_queue"):]
    assert 'class="mine"' not in queued[:queued.index("</tr>")]

    console.session.cookie_jar.clear()
    await log_in(console, "bruno")
    page = await (await console.get("/")).text()
    assert "Name of cus_mine" not in page and "Name of cus_queue" in page  # Ana's task is hers
    assert "Promessa para 04/12 (pedido TL-703) ainda não cumprida: an update on your delivery. Em aberto: 1 caso." in page
    assert "We haven&#39;t forgotten" in page or "we haven&#39;t forgotten" in page  # to the customer: in English
