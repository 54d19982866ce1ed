"""Every custom action against a real CRM database: returned events, messages and CRM rows."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.crm_context import CRM_UNAVAILABLE, add_business_days
from actions.orders import ActionOrderStatus
from actions.products import ActionProductInfo
from actions.sales import ActionRegisterLead
from actions.session import ActionSessionStart
from actions.support import ActionOpenCase
from tests.crm.trackers import DOMAIN, tracker
from threadline.crm.interface import CrmUnavailable
from threadline.crm.models import Case, Opportunity, Promise
from threadline.i18n.formatting import say_date


def rows(database, model):
    return database.transaction(lambda s: s.scalars(select(model).order_by(model.id)).all())


def texts(dispatcher: CollectingDispatcher):
    return [m["text"] for m in dispatcher.messages]


async def test_order_status_of_an_order_on_time(database, crm):
    dispatcher = CollectingDispatcher()
    events = await ActionOrderStatus().run(dispatcher, tracker({"order_id": "TL-70315"}), DOMAIN)
    due = say_date(date.today() + timedelta(days=2))
    assert events == []
    assert texts(dispatcher) == [
        f"Your order TL-70315 (1 × Orbit Smartwatch) has shipped with Jadlog and should arrive by {due}."]
    assert rows(database, Case) == []


async def test_a_late_order_opens_one_case_and_one_promise(database, crm):
    update_by = add_business_days(date.today(), 1)
    for channel in ("sms", "whatsapp"):  # asked twice: still one case, one promise
        dispatcher = CollectingDispatcher()
        events = await ActionOrderStatus().run(dispatcher, tracker({"order_id": "TL-48213"}, channel=channel), DOMAIN)
        assert events == []
    [case] = rows(database, Case)
    assert (case.customer_id, case.topic, case.order_id, case.status, case.channel) == (
        "cus_ana", "late_order", "TL-48213", "open", "sms")
    [promise] = rows(database, Promise)
    assert (promise.case_id, promise.due_date, promise.status) == (case.id, update_by, "open")
    due = say_date(date.today() - timedelta(days=2))
    assert texts(dispatcher)[0] == (  # the second time: the case is not opened again (issue #15)
        f"Your order TL-48213 (1 × Drift Running Shoes) has shipped with Correios; it was due on {due}, "
        f"so it is late. Case #{case.id} with our delivery team is already open, due "
        f"{say_date(update_by)}: we'll update you by then.")


async def test_unknown_order_number_is_cleared_so_the_form_asks_again(database, crm):
    dispatcher = CollectingDispatcher()
    events = await ActionOrderStatus().run(dispatcher, tracker({"order_id": "TL-99999"}), DOMAIN)
    assert events == [SlotSet("order_id", None)]
    assert texts(dispatcher) == ["I couldn't find order TL-99999. Could you check the number? It starts with TL, like TL-48213."]


async def test_product_info_answers_stock_and_price_and_opens_a_lead(database, crm):
    dispatcher = CollectingDispatcher()
    events = await ActionProductInfo().run(
        dispatcher, tracker({"product": "Drift Running Shoes"}, channel="instagram", intent="product_price"), DOMAIN)
    assert events == []
    assert texts(dispatcher) == ["The Drift Running Shoes costs BRL 499.00 and we have 18 in stock."]
    [lead] = rows(database, Opportunity)
    assert (lead.customer_id, lead.product, lead.stage, lead.channel) == ("cus_ana", "Drift Running Shoes", "new", "instagram")


async def test_product_out_of_stock_says_when_it_is_back(database, crm):
    dispatcher = CollectingDispatcher()
    await ActionProductInfo().run(dispatcher, tracker({"product": "harbor rain jacket"}), DOMAIN)
    back = say_date(date.today() + timedelta(days=14))
    assert texts(dispatcher) == [f"The Harbor Rain Jacket costs BRL 549.00, but it is out of stock right now; more arrive by {back}."]


async def test_unknown_product_is_cleared(database, crm):
    dispatcher = CollectingDispatcher()
    events = await ActionProductInfo().run(dispatcher, tracker({"product": "Flux Capacitor"}), DOMAIN)
    assert events == [SlotSet("product", None)]
    assert rows(database, Opportunity) == []


async def test_register_lead_qualifies_the_opportunity_with_its_value(database, crm):
    await ActionProductInfo().run(CollectingDispatcher(), tracker({"product": "Atlas Office Chair"}, channel="instagram"), DOMAIN)
    slots = {"product": "Atlas Office Chair", "quantity": "3", "email": "ana@example.com"}
    form = [{"event": "active_loop", "name": "sales_qualification_form"}, {"event": "active_loop", "name": None}]
    events = await ActionRegisterLead().run(CollectingDispatcher(), tracker(slots, events=form, channel="email"), DOMAIN)
    assert events == []
    [lead] = rows(database, Opportunity)
    assert (lead.product, lead.stage, lead.quantity, lead.value, lead.channel) == (
        "Atlas Office Chair", "qualified", 3, Decimal("3747.00"), "email")
    assert lead.next_step == "contact ana@example.com with a quote"
    [promise] = rows(database, Promise)
    assert promise.text == f"Contact ana@example.com about opportunity #{lead.id}"


async def test_register_lead_after_the_plan_form_is_a_plan_lead(database, crm):
    slots = {"plan": "Club Plus", "email": "rh@empresa.com.br", "product": "Nimbus Pillow"}
    form = [{"event": "active_loop", "name": "plan_form"}, {"event": "active_loop", "name": None}]
    await ActionRegisterLead().run(CollectingDispatcher(), tracker(slots, events=form), DOMAIN)
    [lead] = rows(database, Opportunity)
    assert (lead.plan, lead.product, lead.stage, lead.value) == ("Club Plus", None, "qualified", None)


async def test_open_case_for_a_refund_with_a_promise(database, crm):
    dispatcher = CollectingDispatcher()
    slots = {"case_topic": "refund_request", "order_id": "TL-50927"}
    events = await ActionOpenCase().run(dispatcher, tracker(slots, intent="refund_request"), DOMAIN)
    assert events == []
    [case] = rows(database, Case)
    due = add_business_days(date.today(), 2)
    assert (case.topic, case.order_id, case.status) == ("refund_request", "TL-50927", "open")
    assert texts(dispatcher) == [
        f"I've opened case #{case.id} about order TL-50927: our team will confirm your refund by {say_date(due)}."]
    [promise] = rows(database, Promise)
    assert (promise.case_id, promise.due_date) == (case.id, due)
    again = CollectingDispatcher()
    await ActionOpenCase().run(again, tracker(slots, intent="refund_request"), DOMAIN)
    assert texts(again) == [f"Case #{case.id} about order TL-50927 is already open, due {say_date(due)}: "
                            "our team will confirm your refund by then."]
    assert len(rows(database, Case)) == 1 and len(rows(database, Promise)) == 1


async def test_session_start_for_a_new_customer_only_carries_slots_over(database, crm):
    dispatcher = CollectingDispatcher()
    events = await ActionSessionStart().run(dispatcher, tracker({"order_id": "TL-61884"}, sender_id="cus_new"), DOMAIN)
    assert events == [SessionStarted(), SlotSet("order_id", "TL-61884"), ActionExecuted("action_listen")]
    assert dispatcher.messages == []


async def test_session_start_greets_a_returning_customer_with_the_product_news(database, crm):
    await ActionProductInfo().run(CollectingDispatcher(), tracker({"product": "Drift Running Shoes"}, channel="instagram"), DOMAIN)
    dispatcher = CollectingDispatcher()
    events = await ActionSessionStart().run(dispatcher, tracker({}, channel="sms"), DOMAIN)
    assert events == [SessionStarted(), SlotSet("product", "Drift Running Shoes"), ActionExecuted("action_listen")]
    assert texts(dispatcher) == ["Welcome back! Last time, on Instagram, you asked about the Drift Running Shoes. "
                                 "It's in stock, at BRL 499.00."]


async def test_session_start_loads_the_open_case_so_the_order_number_is_not_asked(database, crm):
    await ActionOrderStatus().run(CollectingDispatcher(), tracker({"order_id": "TL-48213"}), DOMAIN)
    dispatcher = CollectingDispatcher()
    events = await ActionSessionStart().run(dispatcher, tracker({"email": "ana@example.com"}), DOMAIN)
    [case] = rows(database, Case)
    update_by = add_business_days(date.today(), 1)
    assert events == [SessionStarted(), SlotSet("email", "ana@example.com"), SlotSet("order_id", "TL-48213"),
                      ActionExecuted("action_listen")]
    assert texts(dispatcher) == [f"Welcome back! Your case #{case.id} about order TL-48213 is still open; "
                                 f"we'll update you by {say_date(update_by)}."]


async def test_session_start_re_pauses_while_a_handoff_is_open(database, crm, monkeypatch):
    async def open_handoff(customer_id):
        return customer_id == "cus_ana"

    monkeypatch.setattr(crm.crm, "has_open_handoff", open_handoff)  # the issue-9 seam
    events = await ActionSessionStart().run(CollectingDispatcher(), tracker({}), DOMAIN)
    assert events == [SessionStarted(), ConversationPaused(), ActionExecuted("action_listen")]


async def test_actions_still_answer_when_the_crm_is_down(database, crm, monkeypatch):
    async def down(*_args, **_kwargs):
        raise CrmUnavailable("CRM database: OperationalError")

    for name in ("profile", "has_open_handoff"):
        monkeypatch.setattr(crm.crm, name, down)
    monkeypatch.setattr(crm.orders, "order", down)
    events = await ActionSessionStart().run(CollectingDispatcher(), tracker({"order_id": "TL-48213"}), DOMAIN)
    assert events == [SessionStarted(), SlotSet("order_id", "TL-48213"), ActionExecuted("action_listen")]
    dispatcher = CollectingDispatcher()
    assert await ActionOrderStatus().run(dispatcher, tracker({"order_id": "TL-48213"}), DOMAIN) == []
    assert texts(dispatcher) == [CRM_UNAVAILABLE]
