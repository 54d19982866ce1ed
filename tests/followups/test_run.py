"""One pass of the schedule over a real CRM with the fixed clock: a lead stalled 3 days gets one
message on the customer's last channel, in their language and with the product; a WhatsApp
customer silent for 30 hours gets the approved template; a refusal is recorded, not retried;
the dry run decides the same and records nothing; two workers at once send once."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from threadline.crm.models import ChannelIdentity, Customer, Interaction, Opportunity, OpportunityStageChange
from threadline.crm.models.followups import FollowUp
from threadline.followups.clock import FixedClock
from threadline.followups.rules import load_rules
from threadline.followups.run import RunFollowUps
from threadline.handoff.rasa_api import RasaApiError

ZONE = ZoneInfo("America/Sao_Paulo")
T0 = datetime(2026, 12, 1, 13, 0)  # 10:00 in São Paulo


class RecordingRasa:
    """Stands in for the Rasa HTTP API in this unit test (the real one: test_followups_with_rasa.py)."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls = []
        self.refuse = refuse

    async def append_events(self, customer_id, events, output_channel=None, execute_side_effects=False):
        await asyncio.sleep(0.01)  # a real call takes a while: let racing workers overlap
        self.calls.append((customer_id, events, output_channel, execute_side_effects))
        if self.refuse:
            raise RasaApiError("Rasa answered 500 to appending events")
        return {}


def stalled(database, channel="sms", language="pt", last_message=T0):
    def setup(s):
        s.add(Customer(id="cus_r", display_name="Rita", language=language))
        s.flush()
        s.add(Interaction(customer_id="cus_r", author="customer", channel=channel, occurred_at=last_message,
                          idempotency_key="m1", intent="purchase_intent"))
        s.add(Interaction(customer_id="cus_r", author="bot", channel=channel, occurred_at=last_message,
                          idempotency_key="m2", response="utter_lead_registered"))
        s.add(Opportunity(id=3, customer_id="cus_r", product="Aurora lamp", stage="qualified", created_at=T0,
                          last_touch_at=T0, channel="whatsapp"))
        s.flush()
        s.add(OpportunityStageChange(opportunity_id=3, stage="qualified", at=T0))
    database.transaction(setup)


def followups(database):
    return database.transaction(lambda s: [(r.kind, r.action, r.status, r.reason, r.channel) for r in
                                           s.query(FollowUp).order_by(FollowUp.id)])


def runner(database, rasa, at, **kwargs):
    return RunFollowUps(database, rasa, load_rules(), FixedClock(at), ZONE, **kwargs)


async def test_a_lead_stalled_three_days_gets_one_message_on_its_last_channel(database):
    stalled(database, channel="sms")
    rasa = RecordingRasa()
    assert (await runner(database, rasa, T0 + timedelta(days=3) - timedelta(minutes=1))()).decisions == []
    report = await runner(database, rasa, T0 + timedelta(days=3))()
    assert report.counts() == {"stalled_lead alert: alerted": 1, "stalled_lead message: sent": 1}
    [(customer_id, [event], channel, side_effects)] = rasa.calls
    assert (customer_id, channel, side_effects) == ("cus_r", "sms", True)
    assert event["text"] == "Oi! Ainda pensando no Aurora lamp? Responda aqui que eu ajudo a fechar o pedido."
    assert event["metadata"]["utter_action"] == "utter_followup_stalled_lead"
    again = await runner(database, rasa, T0 + timedelta(days=3, hours=1))()
    assert again.counts() == {} and len(rasa.calls) == 1
    assert followups(database) == [("stalled_lead", "alert", "alerted", None, "sms"),
                                   ("stalled_lead", "message", "sent", None, "sms")]


async def test_a_stall_that_starts_again_within_the_same_second_is_a_new_occurrence(database):
    # Seen on the real stack: "stop messaging me", a pass, "you can message me again" and its
    # answer all within one second; keyed to the second, the new stall was taken for the old one.
    stalled(database, channel="sms")
    rasa = RecordingRasa()
    first = await runner(database, rasa, T0 + timedelta(days=3))()
    assert first.counts() == {"stalled_lead alert: alerted": 1, "stalled_lead message: sent": 1}
    later = T0 + timedelta(milliseconds=400)
    database.transaction(lambda s: s.add_all([
        Interaction(customer_id="cus_r", author="customer", channel="sms", occurred_at=later, idempotency_key="m3"),
        Interaction(customer_id="cus_r", author="bot", channel="sms", occurred_at=later, idempotency_key="m4",
                    response="utter_lead_registered")]))
    again = await runner(database, rasa, T0 + timedelta(days=3, seconds=1))()
    # A new item, decided again (the team hears of it; the customer was just written to).
    assert again.counts() == {"stalled_lead alert: alerted": 1, "stalled_lead message: skipped:messaged_recently": 1}
    assert len(rasa.calls) == 1


async def test_whatsapp_after_30_hours_goes_as_the_configured_template(database):
    stalled(database, channel="whatsapp", language="en")
    rasa = RecordingRasa()
    await runner(database, rasa, T0 + timedelta(days=3))()
    [(_, [event], channel, _)] = rasa.calls
    assert channel == "whatsapp" and event["text"] is None
    assert event["data"]["custom"] == {"type": "template", "template": {
        "name": "threadline_followup_lead", "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Aurora lamp"}]}]}}


def test_inside_the_window_it_is_the_channels_response_in_the_customers_language():
    from threadline.followups.messages import MissingContext, bot_event, load_responses

    rule, responses = load_rules().kinds["stalled_lead"], load_responses()
    context = {"product": "Aurora lamp"}
    assert bot_event(rule, responses, "whatsapp", "en", context)["text"].startswith(
        "Hi! Still thinking about the Aurora lamp? I can answer")
    assert bot_event(rule, responses, "email", "pt", context)["text"].startswith("Oi! Ainda pensando no Aurora lamp?")
    assert bot_event(rule, responses, "sms", None, context)["text"].endswith("help you finish your order.")
    with pytest.raises(MissingContext):
        bot_event(rule, responses, "sms", "en", {"product": ""})
    with pytest.raises(MissingContext):
        bot_event(rule, responses, "whatsapp", "en", {}, template=True)


def test_a_promised_date_is_said_in_the_customers_locale():
    from threadline.followups.messages import MissingContext, bot_event, load_responses

    rule, responses = load_rules().kinds["promise_due"], load_responses()
    context = {"promise": "an update on your delivery", "due_date": "2026-12-04"}
    pt = bot_event(rule, responses, "whatsapp", "pt", context)["text"]
    en = bot_event(rule, responses, "whatsapp", "en", context)["text"]
    assert "(até 04/12 (sexta-feira))" in pt and "2026-12-04" not in pt
    assert "2026-12-04" not in en and "Dec" in en
    with pytest.raises(MissingContext):
        bot_event(rule, responses, "whatsapp", "en", {**context, "due_date": "soon"})


async def test_a_refusal_is_recorded_with_its_reason_and_never_retried(database):
    stalled(database)
    rasa = RecordingRasa(refuse=True)
    report = await runner(database, rasa, T0 + timedelta(days=3))()
    assert "stalled_lead message: refused:rasa_refused" in report.counts()
    await runner(database, rasa, T0 + timedelta(days=3, minutes=5))()
    assert len(rasa.calls) == 1
    assert ("stalled_lead", "message", "refused", "rasa_refused", "sms") in followups(database)


async def test_the_dry_run_decides_and_records_nothing(database):
    stalled(database, channel="sms", language="en")
    rasa = RecordingRasa()
    report = await runner(database, None, T0 + timedelta(days=3), dry_run=True)()
    assert [(d.action, d.outcome) for d in report.decisions] == [("alert", "would_alert"), ("message", "would_send")]
    assert report.decisions[1].detail.startswith("Hi! Still thinking about the Aurora lamp?")
    assert followups(database) == [] and rasa.calls == []
    night = await runner(database, None, datetime(2026, 12, 5, 2, 0), dry_run=True)()  # 23:00 local
    assert [d.outcome for d in night.decisions if d.action == "message"] == ["later:quiet_hours"]


async def test_two_workers_at_once_send_it_once(database):
    stalled(database)
    rasa = RecordingRasa()
    reports = await asyncio.gather(*(runner(database, rasa, T0 + timedelta(days=3))() for _ in range(2)))
    assert len(rasa.calls) == 1
    assert sum(r.counts().get("stalled_lead message: sent", 0) for r in reports) == 1
    assert [f[2] for f in followups(database)] == ["alerted", "sent"]


async def test_a_pass_for_some_customers_leaves_the_others(database):
    stalled(database)
    rasa = RecordingRasa()
    assert (await runner(database, rasa, T0 + timedelta(days=3))(["cus_other"])).decisions == []
    assert rasa.calls == [] and followups(database) == []
    assert len((await runner(database, rasa, T0 + timedelta(days=3))(["cus_r"])).decisions) == 2


async def test_an_opt_out_that_cannot_be_checked_sends_nothing_and_records_nothing(database):
    from redis.exceptions import ConnectionError as RedisDown

    stalled(database)
    database.transaction(lambda s: s.add(ChannelIdentity(customer_id="cus_r", channel="sms", address="+5511900000001",
                                                         key="phone:+5511900000001", source="inbound:sms")))

    async def redis_down(channel, address):
        raise RedisDown("Error 111 connecting")

    rasa = RecordingRasa()
    report = await runner(database, rasa, T0 + timedelta(days=3), opted_out=redis_down)()
    assert report.counts() == {"stalled_lead alert: alerted": 1, "stalled_lead message: later:opt_out_unknown": 1}
    assert rasa.calls == [] and [f[1] for f in followups(database)] == ["alert"]
