"""CSAT rules on SQLite and PostgreSQL: asked once per handoff, never within 7 days, never with a
complaint still open or to an opted-out customer; the first answer within 7 days is recorded;
score = (4s + 5s) / responses with the response rate."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from threadline.crm.models import Case, Customer
from threadline.crm.models.csat import CsatRequest
from threadline.insights.csat import (
    claim_question, csat_metric, payload, question, read_csat, record_answer, score_of)

T0 = datetime(2026, 11, 2, 15, 0, 0)


@pytest.fixture
def customer(database) -> str:
    database.transaction(lambda s: s.add(Customer(id="cus_csat", language="pt")))
    return "cus_csat"


def ask(database, source_id: str, at: datetime, opted_out: bool = False, customer_id: str = "cus_csat",
        channel: str = "whatsapp"):
    return database.transaction(lambda s: claim_question(s, customer_id, channel, "handoff", source_id, at, opted_out))


def requests(database):
    return database.transaction(lambda s: [(r.source_id, r.score) for r in
                                           s.query(CsatRequest).order_by(CsatRequest.id)])


def test_asked_once_per_handoff_and_never_again_within_seven_days(database, customer):
    assert ask(database, "hof_1", T0) is None
    assert ask(database, "hof_1", T0 + timedelta(days=30)) == "already_asked"
    assert ask(database, "hof_2", T0 + timedelta(days=7) - timedelta(seconds=1)) == "asked_recently"
    assert ask(database, "hof_2", T0 + timedelta(days=7)) == "asked_recently"  # "within 7 days" includes the 7th
    assert ask(database, "hof_2", T0 + timedelta(days=7, seconds=1)) is None
    assert requests(database) == [("hof_1", None), ("hof_2", None)]


def test_never_with_a_complaint_still_open_nor_to_an_opted_out_customer(database, customer):
    database.transaction(lambda s: s.add(Case(id=41, customer_id=customer, topic="complaint", status="open",
                                              created_at=T0 - timedelta(hours=1))))
    assert ask(database, "hof_1", T0) == "open_complaint"
    database.transaction(lambda s: setattr(s.get(Case, 41), "status", "resolved"))
    assert ask(database, "hof_1", T0, opted_out=True) == "opted_out"
    assert requests(database) == []
    assert ask(database, "hof_1", T0) is None  # the complaint is resolved now
    # Another topic still open does not stop the question.
    database.transaction(lambda s: s.add(Case(id=42, customer_id=customer, topic="late_order", status="open")))
    assert ask(database, "hof_2", T0 + timedelta(days=8)) is None


def test_the_first_answer_within_seven_days_is_recorded_once(database, customer):
    assert record_answer_at(database, 5, T0) is False  # nothing asked yet
    ask(database, "hof_1", T0)
    assert record_answer_at(database, 5, T0 + timedelta(minutes=3)) is True
    assert record_answer_at(database, 1, T0 + timedelta(minutes=4)) is False  # answered already
    assert requests(database) == [("hof_1", 5)]
    ask(database, "hof_2", T0 + timedelta(days=8))
    assert record_answer_at(database, 4, T0 + timedelta(days=15, seconds=1)) is False  # 7 days passed
    assert requests(database) == [("hof_1", 5), ("hof_2", None)]
    with pytest.raises(ValueError):
        record_answer_at(database, 6, T0 + timedelta(days=9))


def record_answer_at(database, score: int, at: datetime) -> bool:
    return database.transaction(lambda s: record_answer(s, "cus_csat", score, now=at))


def test_score_and_response_rate_from_the_recorded_answers(database):
    database.transaction(lambda s: s.add_all([Customer(id=f"cus_{i}") for i in range(5)]))
    for i, (channel, score) in enumerate([("whatsapp", 5), ("whatsapp", 4), ("sms", 2), ("sms", None),
                                          ("whatsapp", 1)]):
        at = T0 + timedelta(hours=i)
        ask(database, f"hof_{i}", at, customer_id=f"cus_{i}", channel=channel)
        if score is not None:
            database.transaction(lambda s: record_answer(s, f"cus_{i}", score, now=at + timedelta(minutes=1)))
    rows = database.transaction(lambda s: read_csat(s, T0, T0 + timedelta(days=1)))
    everyone = csat_metric(rows, T0, T0 + timedelta(days=1), None)
    assert (everyone.value, everyone.numerator, everyone.denominator) == (0.5, 2, 4)
    assert everyone.details["asked"] == 5 and everyone.details["response_rate"] == 0.8
    assert everyone.details["scores"] == {"1": 1, "2": 1, "3": 0, "4": 1, "5": 1}
    sms = csat_metric(rows, T0, T0 + timedelta(days=1), "sms")
    assert (sms.value, sms.details["asked"], sms.details["response_rate"]) == (0.0, 2, 0.5)
    empty = csat_metric(rows, T0 - timedelta(days=2), T0, None)
    assert (empty.value, empty.details["response_rate"]) == (None, None)


def test_the_question_offers_five_payloads_in_the_customers_language():
    event = question("pt", "whatsapp")
    assert event["text"].startswith("Que nota você dá")
    assert [b["payload"] for b in event["data"]["buttons"]] == [payload(n) for n in range(1, 6)]
    assert event["data"]["buttons"][4] == {"title": "5 - Excelente", "payload": '/csat_rating{"csat_score":"5"}'}
    assert all(len(b["title"]) <= 20 for lang in ("en", "pt") for b in question(lang, "instagram")["data"]["buttons"])
    assert question("pt", "sms")["text"].isascii()
    assert [b["title"] for b in question("en", "sms")["data"]["buttons"]] == [
        "Very bad", "Bad", "OK", "Good", "Excellent"]  # numbered by the channel: "1. Very bad"
    assert question(None, "email")["text"].startswith("How would you rate")


@pytest.mark.parametrize("entity, text, expected", [
    ("4", '/csat_rating{"csat_score":"4"}', 4), (None, "5 out of 5", 5), (None, "3 out of 5", 3),
    (None, "nota 4 de 5", 4), (None, "I rate the service 5/5", 5), (None, "2 or 4", None),
    (None, "order 48213", None), ("9", "nota 2", 2), (None, None, None)])
def test_score_of_an_answer(entity, text, expected):
    assert score_of(entity, text) == expected


def test_migration_0008_csat_goes_down_and_up_again_and_matches_the_model(database):
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from threadline.crm.db import alembic_config
    from threadline.crm.models import Base

    config = alembic_config(database.url)
    command.downgrade(config, "0007")
    assert "csat_requests" not in inspect(database.engine).get_table_names()
    command.upgrade(config, "head")
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if "csat" in repr(d)] == []


def test_a_csat_answer_after_a_resolution_starts_no_new_cycle_and_the_question_is_no_answer():
    from threadline.insights.cycles import build_cycles
    from threadline.insights.model import HandoffRow, Message
    from threadline.insights.responses import NOT_ANSWERS

    handoff = HandoffRow("hof_c", "cus_c", "complaint", "sms", T0 + timedelta(minutes=1), T0 + timedelta(minutes=30),
                         "closed", None, {}, "")
    messages = [Message(1, "cus_c", "customer", "sms", T0, intent="complaint"),
                Message(2, "cus_c", "bot", "sms", T0 + timedelta(minutes=31), response="utter_csat_question"),
                Message(3, "cus_c", "customer", "sms", T0 + timedelta(minutes=33), intent="csat_rating"),
                Message(4, "cus_c", "bot", "sms", T0 + timedelta(minutes=33), response="utter_csat_thanks"),
                Message(5, "cus_c", "customer", "sms", T0 + timedelta(minutes=50), intent="order_status")]
    cycles = build_cycles(messages, [handoff], as_of=T0 + timedelta(days=1))
    assert [[m.id for m in c.messages] for c in cycles] == [[1, 2, 3, 4], [5]]
    assert {"utter_csat_question", "utter_csat_thanks"} <= NOT_ANSWERS
