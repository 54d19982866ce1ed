"""Follow-ups through the real stack (Redis, CRM, trained model, action server, connectors, the
sandbox provider speaking Twilio's and Meta's wire formats), with the clock moved 3 days ahead:
a stalled lead gets exactly one follow-up on the customer's last channel, in context, even with
two workers running at once; on WhatsApp after more than 24 hours it goes as the configured
template; none after SMS STOP; none while a complaint is open; none after "stop messaging me" typed
on WhatsApp, until "you can message me again"."""
from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from connectors.webhook.records import ChannelRecords
from threadline.crm.models import Case, Interaction, Opportunity, OpportunityStageChange
from threadline.crm.models.base import utcnow
from threadline.crm.models.followups import CustomerOptOut, FollowUp
from threadline.followups.clock import FixedClock
from threadline.followups.rules import load_rules
from threadline.followups.run import RunFollowUps
from threadline.handoff.rasa_api import RasaApi
from threadline.identity.lookup import find_by_address
from tests.console.conftest import customer_writes, provider, sent_texts, stack, stack_db  # noqa: F401
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
ZONE = ZoneInfo("America/Sao_Paulo")


def three_days_later_at_ten() -> datetime:
    """The first 10:00 in São Paulo at least 3 days and 1 minute from now (outside quiet hours)."""
    local = (utcnow() + timedelta(days=3, minutes=1)).replace(tzinfo=timezone.utc).astimezone(ZONE)
    ten = datetime.combine(local.date(), time(10, 0), ZONE)
    if ten < local:
        ten += timedelta(days=1)
    return ten.astimezone(timezone.utc).replace(tzinfo=None)


async def lead_after_first_message(stack, stack_db, provider, channel: str, address: str, product: str) -> str:  # noqa: F811
    """The customer writes, the bot answers (both reach the CRM timeline), and the CRM has a
    qualified lead for `product` from that moment."""
    before = len(sent_texts(provider, channel, address))
    await customer_writes(stack, channel, address, "hello")
    await wait_for(lambda: sent_texts(provider, channel, address)[before:], timeout=60)
    customer_id = await wait_for(lambda: stack_db.run(lambda s: find_by_address(s, channel, address)), timeout=20)
    await wait_for(lambda: stack_db.run(lambda s: s.scalar(select(Interaction.id).where(
        Interaction.customer_id == customer_id, Interaction.author == "bot"))), timeout=30)

    def qualify(session):
        now = utcnow()
        lead = Opportunity(customer_id=customer_id, product=product, stage="qualified", created_at=now,
                           last_touch_at=now, channel=channel)
        session.add(lead)
        session.flush()
        session.add(OpportunityStageChange(opportunity_id=lead.id, stage="qualified", at=now))
    await stack_db.run(qualify)
    return customer_id


def workers(stack, stack_db, redis, at: datetime, count: int = 1):  # noqa: F811
    rules = load_rules()
    return [RunFollowUps(stack_db, RasaApi(stack.base, stack.token), rules, FixedClock(at), ZONE,
                         opted_out=ChannelRecords(redis).opted_out) for _ in range(count)]


def mine(report, customer_id):
    """This file's decisions: each pass runs for its test's customers only (the stack's CRM holds
    other files' customers too, who must not get follow-ups from a clock moved 3 days ahead)."""
    return [(d.kind, d.action, d.outcome) for d in report.decisions if d.customer_id == customer_id]


async def test_a_lead_stalled_three_days_gets_one_follow_up_by_sms_from_two_workers(stack, stack_db, provider):  # noqa: F811
    phone = "+5511977770001"
    customer_id = await lead_after_first_message(stack, stack_db, provider, "sms", phone, "Nimbus Pillow")
    redis = Redis.from_url(stack.env["REDIS_URL"])
    try:
        sent = len(sent_texts(provider, "sms", phone))
        reports = await asyncio.gather(*(w([customer_id]) for w in workers(
            stack, stack_db, redis, three_days_later_at_ten(), 2)))
        [followup] = await wait_for(lambda: sent_texts(provider, "sms", phone)[sent:], timeout=30)
        assert followup == "Hi! Still thinking about the Nimbus Pillow? Reply here and I'll help you finish your order."
        outcomes = sorted(o for r in reports for _, action, o in mine(r, customer_id) if action == "message")
        assert outcomes == ["already_planned", "sent"]
        rows = await stack_db.run(lambda s: [(r.action, r.status, r.channel) for r in s.scalars(
            select(FollowUp).where(FollowUp.customer_id == customer_id).order_by(FollowUp.id))])
        assert rows == [("alert", "alerted", "sms"), ("message", "sent", "sms")]
        # The CRM timeline records it as the bot's message, under the follow-up's response.
        assert await wait_for(lambda: stack_db.run(lambda s: s.scalar(select(Interaction.id).where(
            Interaction.customer_id == customer_id, Interaction.response == "utter_followup_stalled_lead"))), timeout=30)
        assert len(sent_texts(provider, "sms", phone)) == sent + 1
    finally:
        await redis.close()


async def test_whatsapp_after_more_than_24_hours_gets_the_configured_template(stack, stack_db, provider):  # noqa: F811
    wa_id = "5511977770002"
    customer_id = await lead_after_first_message(stack, stack_db, provider, "whatsapp", wa_id, "Pulse Earbuds")
    redis = Redis.from_url(stack.env["REDIS_URL"])
    try:
        before = len([s for s in provider.sent if s["channel"] == "whatsapp" and s["to"] == wa_id])
        [worker] = workers(stack, stack_db, redis, three_days_later_at_ten())
        report = await worker([customer_id])
        assert ("stalled_lead", "message", "sent") in mine(report, customer_id)
        sent = await wait_for(lambda: [s for s in provider.sent if s["channel"] == "whatsapp"
                                       and s["to"] == wa_id][before:], timeout=30)
        body = sent[0]["body"]
        assert body["type"] == "template"
        assert body["template"]["name"] == "threadline_followup_lead"
        assert body["template"]["components"] == [{"type": "body", "parameters": [
            {"type": "text", "text": "Pulse Earbuds"}]}]
    finally:
        await redis.close()


async def test_none_after_sms_stop_and_none_while_a_complaint_is_open(stack, stack_db, provider):  # noqa: F811
    stopped, complained = "+5511977770003", "+5511977770004"
    stopped_id = await lead_after_first_message(stack, stack_db, provider, "sms", stopped, "Nimbus Pillow")
    complained_id = await lead_after_first_message(stack, stack_db, provider, "sms", complained, "Nimbus Pillow")
    await stack_db.run(lambda s: s.add(Case(customer_id=complained_id, topic="complaint", status="open",
                                            channel="sms")))
    redis = Redis.from_url(stack.env["REDIS_URL"])
    try:
        await ChannelRecords(redis).set_opt_out("sms", stopped, True)  # what the SMS channel records on STOP
        counts = {p: len(sent_texts(provider, "sms", p)) for p in (stopped, complained)}
        [worker] = workers(stack, stack_db, redis, three_days_later_at_ten())
        report = await worker([stopped_id, complained_id])
        assert ("stalled_lead", "message", "skipped:opted_out") in mine(report, stopped_id)
        assert ("stalled_lead", "message", "skipped:open_case") in mine(report, complained_id)
        assert ("stalled_lead", "alert", "alerted") in mine(report, complained_id)  # people still hear of it
        assert {p: len(sent_texts(provider, "sms", p)) for p in (stopped, complained)} == counts
    finally:
        await redis.close()


async def test_stop_messaging_me_on_whatsapp_stops_follow_ups_until_the_customer_allows_them(stack, stack_db, provider):  # noqa: F811
    wa_id = "5511977770005"
    customer_id = await lead_after_first_message(stack, stack_db, provider, "whatsapp", wa_id, "Pulse Earbuds")
    redis = Redis.from_url(stack.env["REDIS_URL"])

    async def bot_answers(text: str) -> str:
        before = len(sent_texts(provider, "whatsapp", wa_id))
        await customer_writes(stack, "whatsapp", wa_id, text)
        [answer] = await wait_for(lambda: sent_texts(provider, "whatsapp", wa_id)[before:], timeout=60)
        return answer

    def whatsapp_sent() -> list:
        return [s for s in provider.sent if s["channel"] == "whatsapp" and s["to"] == wa_id]

    try:
        answer = await bot_answers("stop messaging me")
        assert answer.startswith("Done: we won't message you first any more, on any channel")
        assert "we'll still answer as usual" in answer and "'you can message me again'" in answer
        opt_outs = await stack_db.run(lambda s: [(r.channel, r.source) for r in s.scalars(
            select(CustomerOptOut).where(CustomerOptOut.customer_id == customer_id))])
        assert opt_outs == [("*", "request")]

        before = len(whatsapp_sent())
        [worker] = workers(stack, stack_db, redis, three_days_later_at_ten())
        report = await worker([customer_id])
        assert ("stalled_lead", "message", "skipped:opted_out") in mine(report, customer_id)
        assert ("stalled_lead", "alert", "alerted") in mine(report, customer_id)  # the team still hears of it
        assert len(whatsapp_sent()) == before

        answer = await bot_answers("you can message me again")
        assert answer.startswith("Thanks! We may message you again")
        assert await stack_db.run(lambda s: s.scalar(select(CustomerOptOut.id).where(
            CustomerOptOut.customer_id == customer_id))) is None
        # The lead's new occurrence starts at this answer, once the timeline has it.
        await wait_for(lambda: stack_db.run(lambda s: s.scalar(select(Interaction.id).where(
            Interaction.customer_id == customer_id, Interaction.response == "utter_contact_allowed"))), timeout=30)
        before = len(whatsapp_sent())
        [worker] = workers(stack, stack_db, redis, three_days_later_at_ten())
        report = await worker([customer_id])
        assert ("stalled_lead", "message", "sent") in mine(report, customer_id)
        [followup] = await wait_for(lambda: whatsapp_sent()[before:], timeout=30)
        assert followup["body"]["template"]["name"] == "threadline_followup_lead"
    finally:
        await redis.close()


async def test_a_template_the_provider_rejects_is_recorded_as_refused_and_never_retried(stack, stack_db, provider):  # noqa: F811
    wa_id = "5511977770006"
    customer_id = await lead_after_first_message(stack, stack_db, provider, "whatsapp", wa_id, "Pulse Earbuds")
    redis = Redis.from_url(stack.env["REDIS_URL"])
    try:
        records = ChannelRecords(redis)
        provider.faults["whatsapp"].append((404, {"error": {
            "code": 132001, "message": "Template name does not exist in the translation"}}))
        before = len([s for s in provider.sent if s["channel"] == "whatsapp" and s["to"] == wa_id])
        at = three_days_later_at_ten()
        [worker] = workers(stack, stack_db, redis, at)
        worker.refusal = records.refusal
        report = await worker([customer_id])
        assert ("stalled_lead", "message", "refused:provider_refused:132001") in mine(report, customer_id)
        rows = await stack_db.run(lambda s: [(r.action, r.status, r.reason) for r in s.scalars(
            select(FollowUp).where(FollowUp.customer_id == customer_id).order_by(FollowUp.id))])
        assert rows == [("alert", "alerted", None), ("message", "refused", "provider_refused:132001")]
        # Later passes leave it: nothing more reaches the provider, the row keeps its reason.
        [later] = workers(stack, stack_db, redis, at + timedelta(hours=1))
        later.refusal = records.refusal
        assert mine(await later([customer_id]), customer_id) == [("stalled_lead", "alert", "already_planned"),
                                                                 ("stalled_lead", "message", "already_planned")]
        assert not provider.faults["whatsapp"]
        assert len([s for s in provider.sent if s["channel"] == "whatsapp" and s["to"] == wa_id]) == before
        assert (await stack_db.run(lambda s: s.scalar(select(FollowUp.status).where(
            FollowUp.customer_id == customer_id, FollowUp.action == "message")))) == "refused"
    finally:
        await redis.close()
