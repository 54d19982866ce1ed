"""`action_follow_up` against a real CRM database (SQLite, the demo shop): what a customer who
writes "any update?" is told, after the journeys that leave something open."""
from __future__ import annotations

import re
from datetime import date, timedelta

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.crm_context import CRM_UNAVAILABLE, add_business_days
from actions.follow_up import ActionFollowUp
from actions.orders import ActionOrderStatus
from actions.products import ActionProductInfo
from actions.support import ActionOpenCase
from tests.crm.shop import give_orders
from tests.crm.trackers import DOMAIN, tracker
from threadline.crm.interface import CrmUnavailable
from threadline.i18n import texts_for

ASKED = {"intent": "ask_update", "text": "any update?"}


async def follow_up(slots=None, **where):
    """What the customer reads after "any update?" (one message), and the events."""
    dispatcher = CollectingDispatcher()
    events = await ActionFollowUp().run(dispatcher, tracker(slots, **{**ASKED, **where}), DOMAIN)
    assert len(dispatcher.messages) == 1, dispatcher.messages
    return dispatcher.messages[0], events


async def late_order_case(channel="whatsapp", language=None) -> str:
    """Asks where the late TL-48213 is (the journey opens a case); the case number it told."""
    dispatcher = CollectingDispatcher()
    await ActionOrderStatus().run(dispatcher, tracker({"order_id": "TL-48213", "language": language},
                                                      channel=channel), DOMAIN)
    return re.search(r"#(\d+)", dispatcher.messages[0]["text"]).group(1)


async def test_a_late_order_asked_on_whatsapp_is_followed_up_by_sms_with_its_case_and_promise(crm):
    case = await late_order_case("whatsapp")
    message, events = await follow_up({"order_id": "TL-48213"}, channel="sms")
    texts = texts_for("en")
    assert message["text"] == (
        f"Your order TL-48213 (1 × Drift Running Shoes) has shipped with Correios; it was due on "
        f"{texts.date(date.today() - timedelta(days=2))}, so it is late. Case #{case} is still open: our "
        f"team will update you on the delivery by {texts.date(add_business_days(date.today(), 1))}.")
    assert events == []


async def test_in_portuguese_the_due_date_is_written_the_brazilian_way(crm):
    case = await late_order_case("instagram", language="pt")
    message, _ = await follow_up({"order_id": "TL-48213", "language": "pt"}, channel="email", text="nada ainda?")
    due = add_business_days(date.today(), 1)
    assert f"O chamado #{case} continua aberto: a nossa equipe vai te dar notícias da entrega até " \
           f"{due:%d/%m} (" in message["text"]
    assert message["text"].startswith("Seu pedido TL-48213")


async def test_without_the_order_in_the_conversation_the_newest_open_case_is_the_item(crm):
    # A refund asked for by email; the slot is empty (another session, a cleared form).
    await ActionOpenCase().run(CollectingDispatcher(), tracker(
        {"case_topic": "refund_request", "order_id": "TL-50927"}, intent="refund_request", channel="email"), DOMAIN)
    message, events = await follow_up({}, channel="instagram")
    due = texts_for("en").date(add_business_days(date.today(), 2))
    assert message["text"].startswith("Your order TL-50927 (1 × Aurora Desk Lamp) was delivered on ")
    assert message["text"].endswith(f"is still open: our team will confirm your refund by {due}.")
    assert events == [SlotSet("order_id", "TL-50927")]  # "cancel it" next is about this order


async def test_a_case_without_an_order_is_named_with_its_promise(crm):
    await ActionOpenCase().run(CollectingDispatcher(), tracker({"case_topic": "payment_problem"},
                                                               intent="payment_problem"), DOMAIN)
    message, _ = await follow_up({}, channel="sms", text="and?")
    due = texts_for("en").date(add_business_days(date.today(), 1))
    assert message["text"].startswith("Case #") and message["text"].endswith(
        f"is still open: our team will sort out the payment by {due}.")


async def test_a_promise_whose_day_has_passed_is_owned_up_to(crm):
    case, _ = await crm.crm.open_case("cus_ana", "invoice", None, "whatsapp")
    last_week = date.today() - timedelta(days=7)
    await crm.crm.make_promise("cus_ana", "send you the invoice", last_week, case.id)
    message, _ = await follow_up({}, text="still nothing")
    assert message["text"] == (
        f"Case #{case.id} is still open. We said we would send you the invoice by "
        f"{texts_for('en').date(last_week)} and we are late: I'm sorry. If you'd like a colleague to look at it now, just say so.")


async def test_other_open_cases_are_mentioned_not_hidden(crm):
    await ActionOpenCase().run(CollectingDispatcher(), tracker({"case_topic": "invoice", "order_id": "TL-70315"},
                                                               intent="invoice"), DOMAIN)
    case = await late_order_case()
    message, _ = await follow_up({"order_id": "TL-48213"})
    assert f"Case #{case} is still open" in message["text"]
    assert message["text"].endswith("You also have 1 other open case.")


async def test_an_order_on_time_is_told_where_it_is(crm):
    message, events = await follow_up({"order_id": "TL-70315"}, text="so?")
    assert message["text"] == (f"Your order TL-70315 (1 × Orbit Smartwatch) has shipped with Jadlog and should "
                               f"arrive by {texts_for('en').date(date.today() + timedelta(days=2))}.")
    assert events == []


async def test_the_customers_order_on_its_way_when_nothing_was_named(crm, database):
    give_orders(database, {"TL-61884": "cus_ana"})
    message, events = await follow_up({})
    assert message["text"].startswith("Your order TL-61884 (2 × Nimbus Pillow) is being prepared")
    assert events == [SlotSet("order_id", "TL-61884")]


async def test_the_product_asked_about_last(crm):
    await ActionProductInfo().run(CollectingDispatcher(), tracker({"product": "Drift Running Shoes"},
                                                                  intent="product_price"), DOMAIN)
    message, _ = await follow_up({}, channel="instagram")
    assert message["text"] == "You asked about the Drift Running Shoes. It's in stock, at BRL 499.00."


async def test_nothing_open_asks_what_it_is_about_without_a_greeting(crm):
    message, events = await follow_up({}, channel="sms", text="hello again, any update?")
    assert (message["response"], message["text"], events) == ("utter_ask_follow_up_topic", None, [])


async def test_someone_elses_order_is_never_described(crm, database):
    give_orders(database, {"TL-70315": "cus_bruno"})
    message, _ = await follow_up({"order_id": "TL-70315"})
    assert message["response"] == "utter_ask_follow_up_topic" and "TL-70315" not in str(message)


async def test_crm_down_says_so(crm, monkeypatch):
    async def down(*_args, **_kwargs):
        raise CrmUnavailable("CRM database: OperationalError")

    monkeypatch.setattr(crm.crm, "profile", down)
    message, events = await follow_up({"order_id": "TL-48213"})
    assert (message["text"], events) == (CRM_UNAVAILABLE, [])
