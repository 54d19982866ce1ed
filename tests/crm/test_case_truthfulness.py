"""Say what is true (issue #15): "I've opened case #N" only on the turn that opened it; asked
again, "case #N is already open, due <its promise's date>", in the customer's language and
locale. A request about no order names none. Exact events and texts, tracker fixtures in the
style of RasaHQ financial-demo, against a real CRM database (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, update

from actions.crm_context import add_business_days
from actions.orders import ActionOrderStatus
from actions.support import ActionOpenCase
from tests.crm.trackers import DOMAIN, tracker
from threadline.crm.interface import CrmUnavailable
from threadline.crm.models import Case, Promise
from threadline.i18n.formatting import say_date


def rows(database, model):
    return database.transaction(lambda s: s.scalars(select(model).order_by(model.id)).all())


async def said(action, slots, **context) -> tuple[list, list]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker(slots, **context), DOMAIN)
    return events, [m["text"] for m in dispatcher.messages]


def move_promise_due(database, due: date) -> None:
    database.transaction(lambda s: s.execute(update(Promise).values(due_date=due)))


async def test_a_payment_problem_without_an_order_names_no_order(database, crm):
    events, texts = await said(ActionOpenCase(), {"case_topic": "payment_problem"}, intent="payment_problem",
                               text="my payment failed")
    [case] = rows(database, Case)
    [promise] = rows(database, Promise)
    due = add_business_days(date.today(), 1)
    assert events == []
    assert texts == [f"I've opened case #{case.id}: our team will sort out the payment by {say_date(due)}."]
    assert (case.topic, case.order_id) == ("payment_problem", None)
    assert (promise.text, promise.due_date, promise.case_id) == ("sort out the payment", due, case.id)


async def test_the_same_request_again_says_the_case_is_already_open_with_its_promised_day(database, crm):
    slots = {"case_topic": "refund_request", "order_id": "TL-50927"}
    await said(ActionOpenCase(), slots, intent="refund_request")
    [case] = rows(database, Case)
    promised = date.today() + timedelta(days=5)  # the day the CRM keeps, not one recomputed today
    move_promise_due(database, promised)
    events, texts = await said(ActionOpenCase(), slots, intent="refund_request", channel="sms")
    assert events == []
    assert texts == [f"Case #{case.id} about order TL-50927 is already open, due {say_date(promised)}: "
                     "our team will confirm your refund by then."]
    assert len(rows(database, Case)) == 1 and len(rows(database, Promise)) == 1


async def test_already_open_in_portuguese_gives_the_day_as_brazilians_write_it(database, crm):
    slots = {"case_topic": "payment_problem", "language": "pt"}
    _, first = await said(ActionOpenCase(), slots, intent="payment_problem")
    [case] = rows(database, Case)
    due = add_business_days(date.today(), 1)
    assert first == [f"Abri o chamado #{case.id}: a nossa equipe vai resolver o pagamento até "
                     f"{say_date(due, 'pt_BR')}."]
    _, again = await said(ActionOpenCase(), slots, intent="payment_problem")
    assert again == [f"O chamado #{case.id} já está aberto, com prazo até {say_date(due, 'pt_BR')}: "
                     "a nossa equipe vai resolver o pagamento até lá."]
    assert "/" in say_date(due, "pt_BR")  # "05/12 (sexta-feira)", not "Fri 5 Dec"


async def test_an_overdue_promise_is_not_presented_as_still_to_come(database, crm):
    slots = {"case_topic": "invoice", "order_id": "TL-50927"}
    await said(ActionOpenCase(), slots, intent="invoice")
    [case] = rows(database, Case)
    missed = date.today() - timedelta(days=3)
    move_promise_due(database, missed)
    _, texts = await said(ActionOpenCase(), slots, intent="invoice")
    assert texts == [f"Case #{case.id} about order TL-50927 is already open; it was due {say_date(missed)}, "
                     "and our team is still on it."]


async def test_an_open_case_whose_promise_was_kept_gives_no_day(database, crm):
    await said(ActionOpenCase(), {"case_topic": "complaint"}, intent="complaint")
    [case] = rows(database, Case)
    database.transaction(lambda s: s.execute(update(Promise).values(status="kept")))
    _, texts = await said(ActionOpenCase(), {"case_topic": "complaint"}, intent="complaint")
    assert texts == [f"Case #{case.id} is already open, and our team is on it."]


async def test_crm_away_promises_nothing(database, crm, monkeypatch):
    async def down(*_args, **_kwargs):
        raise CrmUnavailable("CRM database: OperationalError")

    monkeypatch.setattr(crm.crm, "open_case", down)
    _, about_order = await said(ActionOpenCase(), {"case_topic": "cancel_order", "order_id": "TL-50927"})
    _, about_none = await said(ActionOpenCase(), {"case_topic": "payment_problem"})
    assert about_order == ["I couldn't open a case about order TL-50927 just now. Please try again in a few "
                           "minutes, or ask for a person."]
    assert about_none == ["I couldn't open a case just now. Please try again in a few minutes, or ask for a person."]
    assert rows(database, Case) == []


@pytest.mark.parametrize("language, opened, already", [
    (None, "I've opened case #{case} with our delivery team and we'll update you by {day}.",
     "Case #{case} with our delivery team is already open, due {day}: we'll update you by then."),
    ("pt", "Abri o chamado #{case} com a nossa equipe de entregas e vamos te dar um retorno até {day}.",
     "O chamado #{case} com a nossa equipe de entregas já está aberto, com prazo até {day}: "
     "vamos te dar um retorno até lá."),
])
async def test_where_is_my_late_order_asked_twice(database, crm, language, opened, already):
    locale = "pt_BR" if language == "pt" else "en"
    slots = {"order_id": "TL-48213", "language": language}
    first_events, first = await said(ActionOrderStatus(), slots, channel="whatsapp")
    [case] = rows(database, Case)
    update_by = say_date(add_business_days(date.today(), 1), locale)
    second_events, second = await said(ActionOrderStatus(), slots, channel="sms")
    assert first_events == second_events == []
    assert first[0].endswith(" " + opened.format(case=case.id, day=update_by))
    assert second[0].endswith(" " + already.format(case=case.id, day=update_by))
    assert first[0].split(" ")[:4] == second[0].split(" ")[:4]  # the same order status before it
    assert len(rows(database, Case)) == 1 and len(rows(database, Promise)) == 1
