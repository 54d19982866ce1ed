"""CSAT through the real stack: an agent closes a handoff in the console, the customer gets
the 1-5 question on their channel (a WhatsApp list; a numbered list by SMS), answers with a tap
or a digit, is thanked, and the answer is in the CRM; a second close within 7 days asks nothing.
Needs models/threadline.tar.gz trained with the csat_rating rule (`make train`)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from threadline.crm.models.base import utcnow
from threadline.crm.models.csat import CsatRequest
from threadline.insights.csat import csat_metric, payload, read_csat
from tests.console.conftest import customer_writes, log_in, page_token, sent_texts
from tests.console.test_replies_with_rasa import act, agents_on_stack, console, escalated_after_first_message  # noqa: F401
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def requests_of(stack_db, customer_id: str):
    return stack_db.transaction(lambda s: [(r.channel, r.trigger, r.score) for r in s.scalars(
        select(CsatRequest).where(CsatRequest.customer_id == customer_id).order_by(CsatRequest.id))])


async def sandbox_tap(stack, channel: str, address: str, tapped: str, title: str) -> None:
    import aiohttp

    from tests.console.conftest import page_headers

    async with aiohttp.ClientSession(headers=page_headers(stack.env)) as session:
        async with session.post(f"http://127.0.0.1:{stack.sandbox_port}/sandbox/inbound", json={
                "channel": channel, "address": address, "payload": tapped, "title": title}) as response:
            assert (await response.json())["webhook_status"] == 200


async def test_closing_a_handoff_asks_once_on_whatsapp_and_a_tap_is_recorded(stack, stack_db, provider, console):
    wa_id = "5511966660001"
    customer_id, handoff_id = await escalated_after_first_message(stack, stack_db, provider, "whatsapp", wa_id)
    before = len([s for s in provider.sent if s["to"] == wa_id])
    await log_in(console, "ana")
    await act(console, handoff_id, "claim")
    assert await act(console, handoff_id, "close") == "/"
    [asked] = await wait_for(lambda: [s for s in provider.sent if s["to"] == wa_id][before:], timeout=30)
    interactive = asked["body"]["interactive"]
    assert interactive["type"] == "list"  # five options: more than WhatsApp's three buttons
    assert interactive["body"]["text"].startswith("How would you rate the help you got today")
    rows = interactive["action"]["sections"][0]["rows"]
    assert [(r["id"], r["title"]) for r in rows] == [
        (payload(1), "1 - Very bad"), (payload(2), "2 - Bad"), (payload(3), "3 - OK"), (payload(4), "4 - Good"),
        (payload(5), "5 - Excellent")]
    assert requests_of(stack_db, customer_id) == [("whatsapp", "handoff", None)]

    answered = len(sent_texts(provider, "whatsapp", wa_id))
    await sandbox_tap(stack, "whatsapp", wa_id, payload(5), "5 - Excellent")
    [thanks] = await wait_for(lambda: sent_texts(provider, "whatsapp", wa_id)[answered:], timeout=30)
    assert thanks == "Thank you for rating us! It helps us get better."
    assert await wait_for(lambda: requests_of(stack_db, customer_id)[0][2], timeout=10) == 5

    # A second handoff closed the same week: no second question.
    _, second = await escalated_after_first_message(stack, stack_db, provider, "whatsapp", wa_id)
    await act(console, second, "claim")
    sent = len([s for s in provider.sent if s["to"] == wa_id])
    assert await act(console, second, "close") == "/"
    # The customer writes again: the bot's answer comes after anything the close sent, in order.
    await customer_writes(stack, "whatsapp", wa_id, "thanks")
    after = await wait_for(lambda: [s for s in provider.sent if s["to"] == wa_id][sent:], timeout=30)
    assert not any("interactive" in s["body"] and s["body"]["interactive"]["type"] == "list" for s in after)
    assert requests_of(stack_db, customer_id) == [("whatsapp", "handoff", 5)]

    rows = await stack_db.run(lambda s: read_csat(s, utcnow() - timedelta(hours=1), utcnow() + timedelta(minutes=1)))
    mine = [r for r in rows if r.customer_id == customer_id]
    metric = csat_metric(mine, utcnow() - timedelta(hours=1), utcnow() + timedelta(minutes=1), "whatsapp")
    assert (metric.value, metric.details["response_rate"]) == (1.0, 1.0)


async def test_by_sms_the_digit_answers_and_an_open_complaint_means_no_question(stack, stack_db, provider, console):
    from threadline.crm.models import Case

    phone = "+5511966660002"
    customer_id, handoff_id = await escalated_after_first_message(stack, stack_db, provider, "sms", phone)
    await stack_db.run(lambda s: s.add(Case(customer_id=customer_id, topic="complaint", status="open")))
    await log_in(console, "bruno")
    await act(console, handoff_id, "claim")
    sent = len(sent_texts(provider, "sms", phone))
    assert await act(console, handoff_id, "hand-back") == "/"
    await customer_writes(stack, "sms", phone, "thanks")
    after = await wait_for(lambda: sent_texts(provider, "sms", phone)[sent:], timeout=30)
    assert not any("rate the help" in text for text in after) and requests_of(stack_db, customer_id) == []

    await stack_db.run(lambda s: [setattr(c, "status", "resolved") for c in s.scalars(
        select(Case).where(Case.customer_id == customer_id))])
    _, second = await escalated_after_first_message(stack, stack_db, provider, "sms", phone)
    await act(console, second, "claim")
    sent = len(sent_texts(provider, "sms", phone))
    assert await act(console, second, "hand-back") == "/"
    [asked] = await wait_for(lambda: sent_texts(provider, "sms", phone)[sent:], timeout=30)
    assert asked.startswith("How would you rate the help you got today, from 1 (very bad) to 5 (excellent)?")
    assert "1. Very bad" in asked and "5. Excellent" in asked
    await customer_writes(stack, "sms", phone, "4")
    [thanks] = await wait_for(lambda: sent_texts(provider, "sms", phone)[sent + 1:], timeout=30)
    assert thanks == "Thanks for rating us! It helps us improve."
    assert await wait_for(lambda: requests_of(stack_db, customer_id)[0][2], timeout=10) == 4


async def test_a_customer_who_said_stop_by_sms_is_not_surveyed_there(stack, stack_db, provider, console):
    """STOP is the customer's word on that channel: a hand-back asks no CSAT question by SMS."""
    from redis.asyncio import Redis

    from connectors.webhook.records import ChannelRecords

    phone = "+5511966660003"
    customer_id, handoff_id = await escalated_after_first_message(stack, stack_db, provider, "sms", phone)
    redis = Redis.from_url(stack.env["REDIS_URL"])
    try:
        await ChannelRecords(redis).set_opt_out("sms", phone, True)  # what the SMS channel records on STOP
        await log_in(console, "bruno")
        await act(console, handoff_id, "claim")
        sent = len(sent_texts(provider, "sms", phone))
        assert await act(console, handoff_id, "hand-back") == "/"
        assert requests_of(stack_db, customer_id) == []  # decided before the hand-back answered
        assert len(sent_texts(provider, "sms", phone)) == sent
        await ChannelRecords(redis).set_opt_out("sms", phone, False)
        _, second = await escalated_after_first_message(stack, stack_db, provider, "sms", phone)
        await act(console, second, "claim")
        sent = len(sent_texts(provider, "sms", phone))
        assert await act(console, second, "hand-back") == "/"
        [asked] = await wait_for(lambda: sent_texts(provider, "sms", phone)[sent:], timeout=30)
        assert asked.startswith("How would you rate the help you got today")
    finally:
        await redis.close()



async def test_resolving_a_case_from_the_customers_page_asks_on_the_cases_channel(stack, stack_db, provider, console):
    """No handoff: the agent resolves the customer's late-order case on their page, and the
    question reaches WhatsApp, the channel the case was opened on."""
    from threadline.crm.models import Case
    from threadline.identity.lookup import find_by_address

    wa_id = "5511966660004"
    before = len(sent_texts(provider, "whatsapp", wa_id))
    await customer_writes(stack, "whatsapp", wa_id, "hello")
    await wait_for(lambda: sent_texts(provider, "whatsapp", wa_id)[before:], timeout=60)
    customer_id = await stack_db.run(lambda s: find_by_address(s, "whatsapp", wa_id))

    def open_case(session) -> int:
        case = Case(customer_id=customer_id, topic="late_order", order_id="TL-48213", channel="whatsapp")
        session.add(case)
        session.flush()
        return case.id
    case_id = await stack_db.run(open_case)
    await log_in(console, "ana")
    token = await page_token(console, f"/customers/{customer_id}")
    sent = len([s for s in provider.sent if s["to"] == wa_id])
    response = await console.post(f"/customers/{customer_id}/cases/{case_id}/resolve", data={"csrf_token": token},
                                  allow_redirects=False)
    assert response.status == 303
    [asked] = await wait_for(lambda: [s for s in provider.sent if s["to"] == wa_id][sent:], timeout=30)
    assert asked["body"]["interactive"]["type"] == "list"
    assert asked["body"]["interactive"]["body"]["text"].startswith("How would you rate the help you got today")
    assert requests_of(stack_db, customer_id) == [("whatsapp", "case", None)]
