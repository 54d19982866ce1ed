"""Each metric of docs/insights.md on a hand-built history whose value is known exactly,
on SQLite and PostgreSQL. Times are São Paulo wall times (`local(day, hh, mm)`, November 2026;
the 2nd is a Monday); business hours are mon-fri 09:00-18:00."""
from __future__ import annotations

from datetime import timedelta

from tests.insights.history import local


def cycle_ids(metric):
    return sorted(r.cycle_id for r in metric.rows)


# --- care cycles -------------------------------------------------------------------------
async def test_cycles_start_after_24h_of_silence_and_after_a_resolution(history):
    c = history.customer("cus_ana")
    first = history.say(c, "customer", local(2, 10), intent="refund_request")
    history.say(c, "bot", local(2, 10, 0, 5))
    history.say(c, "customer", local(3, 9), intent="refund_request")  # 23 h later: same cycle
    history.case(c, "refund_request", local(2, 10), resolved=local(3, 12))
    after_resolution = history.say(c, "customer", local(3, 13), intent="thank")  # 1 h after the resolution
    after_silence = history.say(c, "customer", local(5, 10), intent="order_status")  # 45 h later
    volume = history.metric("volume_by_channel")
    assert cycle_ids(volume) == sorted(f"cus_ana:{i}" for i in (first, after_resolution, after_silence))


# --- 1. first useful response ------------------------------------------------------------
async def test_first_useful_response_skips_greetings_questions_and_fallbacks(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), intent="order_status")  # Monday 10:00
    history.say(a, "bot", local(2, 10, 0, 2), response="utter_greet")
    history.say(a, "bot", local(2, 10, 0, 5), response="utter_ask_order_id")
    history.say(a, "customer", local(2, 10, 2), intent="provide_order_number", entities=[("order_id", "TL-1")])
    history.say(a, "bot", local(2, 10, 2, 5))  # a custom action's answer: useful, 125 s after the start
    b = history.customer("cus_b")
    history.say(b, "customer", local(6, 17, 30), intent="complaint")  # Friday 17:30
    history.say(b, "bot", local(6, 17, 30, 3), response="utter_handoff")  # "a person is coming"
    history.say(b, "agent", local(9, 9, 15))  # Monday 09:15: 30 + 15 business minutes
    c = history.customer("cus_c")
    history.say(c, "customer", local(3, 11), intent="nlu_fallback")
    history.say(c, "bot", local(3, 11, 0, 2), response="utter_default")

    metric = history.metric("first_useful_response")
    calendar_b = (local(9, 9, 15) - local(6, 17, 30)).total_seconds()
    assert (metric.numerator, metric.denominator) == (2, 3)
    assert metric.value == (125 + calendar_b) / 2
    assert metric.details["business_hours"]["median"] == (125 + 45 * 60) / 2
    assert metric.details["without_useful_response"] == 1
    by_customer = {r.customer_id: r.detail for r in metric.rows}
    assert by_customer["cus_b"]["business_seconds"] == 45 * 60 and by_customer["cus_b"]["by"] == "agent"
    assert by_customer["cus_c"]["seconds"] is None


# --- 2. no follow-up, across a weekend ----------------------------------------------------
async def test_no_follow_up_counts_business_hours_across_the_weekend(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(6, 17), channel="email", intent="delivery_options")  # Friday 17:00
    answered = history.customer("cus_b")
    history.say(answered, "customer", local(6, 11), intent="payment_methods")
    history.say(answered, "bot", local(6, 11, 0, 2), response="utter_payment_methods")

    # Monday 11:30: Friday 17:00-18:00 + Monday 09:00-11:30 = 3.5 business hours, still within 4
    early = history.metric("no_follow_up", as_of=local(9, 11, 30))
    assert (early.numerator, early.denominator, early.details["still_within_limit"]) == (0, 2, 1)
    late = history.metric("no_follow_up", as_of=local(9, 12, 0))  # 4 business hours
    assert (late.numerator, late.denominator, late.value) == (1, 2, 0.5)
    assert [r.customer_id for r in late.rows] == ["cus_a"]


async def test_no_follow_up_rows_say_whether_a_follow_up_task_was_raised(history):
    flagged, ignored, earlier = (history.customer(c) for c in ("cus_flagged", "cus_ignored", "cus_earlier"))
    for customer in (flagged, ignored, earlier):
        history.say(customer, "customer", local(6, 17), intent="delivery_options")  # Friday 17:00
    history.followup(flagged, "unanswered", "interaction:1", local(6, 17, 30), action="alert", status="alerted")
    history.followup(earlier, "unanswered", "interaction:2", local(6, 16), action="alert", status="alerted")

    late = history.metric("no_follow_up", as_of=local(10, 12))
    assert {r.customer_id: r.detail["follow_up_alert"] for r in late.rows} == {
        flagged: True, ignored: False, earlier: False}


# --- 3 and 6. stalled and recovered leads ---------------------------------------------------
async def test_stalled_leads_and_the_ones_that_recovered(history):
    one = history.customer("cus_one")
    history.say(one, "customer", local(2, 10), intent="purchase_intent")
    recovered = history.opportunity(one, [(local(2, 10, 1), "new"), (local(2, 10, 2), "qualified"),
                                          (local(9, 10), "proposal"), (local(10, 10), "won")])
    history.say(one, "customer", local(9, 9, 50), intent="purchase_intent")  # a week of silence, then back
    two = history.customer("cus_two")
    still = history.opportunity(two, [(local(10, 10), "qualified")])  # nothing after: stalls on the 13th
    three = history.customer("cus_three")
    history.opportunity(three, [(local(3, 10), "new")])  # `new` never stalls
    four = history.customer("cus_four")
    history.opportunity(four, [(local(20, 10), "qualified"), (local(26, 10), "won")])
    for day in (22, 24):  # a message every two days: never 3 days without one
        history.say(four, "customer", local(day, 10), intent="product_price")

    stalled = history.metric("stalled_leads")
    assert (stalled.value, stalled.denominator) == (2, 3)
    assert sorted(r.detail["opportunity_id"] for r in stalled.rows) == sorted([recovered, still])
    first = next(r for r in stalled.rows if r.detail["opportunity_id"] == recovered)
    assert first.detail["stalled_at"] == (local(2, 10, 2) + timedelta(days=3)).isoformat() + "Z"
    back = history.metric("recovered_opportunities")
    assert (back.numerator, back.denominator, back.value) == (1, 2, 0.5)
    assert [(r.detail["opportunity_id"], r.detail["to_stage"]) for r in back.rows] == [(recovered, "proposal")]


async def test_recovered_opportunities_say_which_recovered_after_a_follow_up(history):
    """Three leads stall at `qualified` (Monday 2nd 10:00, stalled from Thursday 5th) and reach
    `proposal` on the 12th: one was sent a stalled-lead follow-up on the 6th (its message is a bot
    message), one's follow-up was skipped (opted out), one was written only after it advanced."""
    followed, skipped, late = (history.customer(c) for c in ("cus_followed", "cus_skipped", "cus_late"))
    ids = {c: history.opportunity(c, [(local(2, 10), "qualified"), (local(12, 10), "proposal")])
           for c in (followed, skipped, late)}
    history.say(followed, "bot", local(6, 10), response="utter_followup_stalled_lead")
    history.followup(followed, "stalled_lead", f"opportunity:{ids[followed]}", local(6, 10), outcome="advanced")
    history.followup(skipped, "stalled_lead", f"opportunity:{ids[skipped]}", local(6, 10), status="skipped",
                     reason="opted_out")
    history.followup(late, "stalled_lead", f"opportunity:{ids[late]}", local(13, 10), outcome="replied",
                     channel="sms")
    history.followup(late, "unanswered", "interaction:1", local(14, 10), action="alert", status="alerted")

    back = history.metric("recovered_opportunities")
    assert (back.numerator, back.denominator, back.details["after_follow_up"]) == (3, 3, 1)
    assert {r.detail["opportunity_id"]: r.detail["after_follow_up"] for r in back.rows} == {
        ids[followed]: True, ids[skipped]: False, ids[late]: False}
    assert back.details["followups"] == {
        "planned": 4, "sent": 2, "alerted": 1, "skipped": 1, "refused": 0,
        "skipped_by_reason": {"opted_out": 1}, "refused_by_reason": {},
        "outcomes": {"replied": 1, "advanced": 1, "won": 0, "opted_out": 0}}
    on_sms = history.metric("recovered_opportunities", channel="sms").details["followups"]
    assert (on_sms["planned"], on_sms["sent"], on_sms["outcomes"]["replied"]) == (1, 1, 1)


# --- 4. repeated information --------------------------------------------------------------
async def test_repeated_information_asked_by_the_bot_or_an_agent(history):
    known = history.customer("cus_known")
    history.order(known, "TL-48213")
    history.say(known, "customer", local(2, 10), intent="order_status")
    history.say(known, "bot", local(2, 10, 0, 3), response="utter_ask_order_id")  # the shop has it
    history.say(known, "customer", local(2, 10, 1), intent="provide_order_number",
                entities=[("order_id", "TL-48213")])
    new = history.customer("cus_new")  # no order on record: asking is right
    history.say(new, "customer", local(2, 11), intent="order_status")
    history.say(new, "bot", local(2, 11, 0, 3), response="utter_ask_order_id")
    history.say(new, "customer", local(2, 11, 1), intent="provide_order_number", entities=[("order_id", "TL-1")])
    mail = history.customer("cus_mail", email="ana@example.com")
    history.say(mail, "customer", local(3, 10), intent="account_help")
    history.say(mail, "agent", local(3, 10, 5), text="Sure. What is your e-mail address?")
    again = history.customer("cus_again")
    history.say(again, "customer", local(4, 10), channel="instagram", intent="order_status",
                entities=[("order_id", "TL-777")])
    history.say(again, "bot", local(4, 10, 0, 2), channel="instagram")
    history.say(again, "customer", local(6, 10), channel="sms", intent="change_address")  # a new cycle
    history.say(again, "bot", local(6, 10, 0, 2), channel="sms", text="Which order is it about?")
    history.say(again, "customer", local(6, 10, 1), channel="sms", intent="provide_order_number",
                entities=[("order_id", "tl 777")])

    metric = history.metric("repeated_information")
    assert (metric.numerator, metric.denominator) == (3, 5)
    found = {r.customer_id: r.detail for r in metric.rows}
    assert found["cus_known"]["hows"] == ["asked by bot"] and found["cus_known"]["facts"] == ["order_id"]
    assert found["cus_mail"]["hows"] == ["asked by agent"] and found["cus_mail"]["facts"] == ["email"]
    assert found["cus_again"]["hows"] == ["given again"]
    assert metric.details["by_fact"] == {"order_id": 2, "email": 1}


# --- 5. handoffs with complete context; human first response -------------------------------
async def test_handoff_context_is_complete_when_the_summary_names_the_facts_and_the_agent_asks_none(history):
    summary = {"intent": "complaint", "channels": ["whatsapp"]}
    good = history.customer("cus_good")
    history.order(good, "TL-100")
    history.say(good, "customer", local(2, 10), intent="complaint", entities=[("order_id", "TL-100")])
    history.handoff(good, local(2, 10, 1), summary=summary, summary_text="Order TL-100 is 3 days late.")
    history.say(good, "agent", local(2, 10, 5), text="Hi, I am checking TL-100 with the carrier now.")
    vague = history.customer("cus_vague")
    history.say(vague, "customer", local(2, 11), intent="complaint", entities=[("order_id", "TL-200")])
    history.handoff(vague, local(2, 11, 1), summary=summary, summary_text="The customer is upset.")
    history.say(vague, "agent", local(2, 11, 5), text="Hello, I am on it.")
    asks = history.customer("cus_asks")
    history.order(asks, "TL-300")
    history.say(asks, "customer", local(2, 12), intent="complaint", entities=[("order_id", "TL-300")])
    history.handoff(asks, local(2, 12, 1), summary=summary, summary_text="Order TL-300 is late.")
    history.say(asks, "agent", local(2, 12, 5), text="Hello!")
    history.say(asks, "agent", local(2, 12, 6), text="Could you send me your order number?")
    nobody = history.customer("cus_nobody")
    history.say(nobody, "customer", local(2, 13), intent="complaint")
    history.handoff(nobody, local(2, 13, 1), summary={"intent": "complaint", "channels": []})

    metric = history.metric("handoffs_with_complete_context")
    assert (metric.numerator, metric.denominator, metric.value) == (1, 4, 0.25)
    rows = {r.customer_id: r.detail for r in metric.rows}
    assert rows["cus_good"]["complete"] is True
    assert rows["cus_vague"]["summary_missing"] == ["order_id"]
    assert rows["cus_asks"]["agent_asked_known"] == ["order_id"]
    assert rows["cus_nobody"]["summary_missing"] == ["channels"] and rows["cus_nobody"]["agent_replied"] is False


async def test_human_first_response_and_a_handoff_no_agent_answered(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 17, 45), intent="request_human")
    history.handoff(a, local(2, 17, 50), reason="requested")  # Monday 17:50
    history.say(a, "bot", local(2, 17, 50, 2), response="utter_handoff")
    history.say(a, "agent", local(3, 9, 10))  # Tuesday 09:10: 10 + 10 business minutes
    b = history.customer("cus_b")
    history.say(b, "customer", local(4, 10), intent="request_human")
    history.handoff(b, local(4, 10, 1), reason="requested")  # never answered

    metric = history.metric("human_first_response")
    assert (metric.numerator, metric.denominator) == (1, 2)
    assert metric.value == (local(3, 9, 10) - local(2, 17, 50)).total_seconds() == 15 * 3600 + 20 * 60
    assert metric.details["business_hours"]["median"] == 20 * 60
    assert metric.details["without_agent_reply"] == 1
    unanswered = next(r for r in metric.rows if r.customer_id == "cus_b")
    assert unanswered.detail["seconds"] is None


# --- 7. recurring questions by stage and topic ---------------------------------------------
async def test_recurring_questions_by_stage_and_support_topic(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), intent="order_status")
    history.say(a, "customer", local(5, 10), intent="order_status")
    history.case(a, "late_order", local(5, 10, 1))
    history.say(a, "customer", local(5, 10, 2), intent="delivery_time")
    history.say(a, "customer", local(5, 10, 3), intent="greet")  # small talk is not a question
    b = history.customer("cus_b")
    history.opportunity(b, [(local(2, 9), "new"), (local(2, 9, 30), "qualified")])
    history.say(b, "customer", local(3, 10), intent="product_price")

    metric = history.metric("recurring_questions")
    assert metric.value == 4
    assert metric.details["by_stage"] == {
        "none": [{"intent": "order_status", "count": 2, "cycles": 2}, {"intent": "delivery_time", "count": 1, "cycles": 1}],
        "qualified": [{"intent": "product_price", "count": 1, "cycles": 1}],
    }
    assert metric.details["by_topic"]["late_order"] == [{"intent": "delivery_time", "count": 1, "cycles": 1}]


# --- 8. channels that don't sell -------------------------------------------------------------
async def test_channel_funnel_shows_the_channels_that_talk_but_do_not_sell(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), intent="purchase_intent")
    history.opportunity(a, [(local(2, 10, 1), "new"), (local(2, 10, 5), "qualified"), (local(4, 10), "won")])
    history.say(a, "customer", local(10, 10), intent="order_status")  # a second WhatsApp cycle
    b = history.customer("cus_b")
    history.say(b, "customer", local(2, 11), channel="sms", intent="product_price")
    history.opportunity(b, [(local(2, 11, 1), "new")], channel="sms")
    c = history.customer("cus_c")
    history.say(c, "customer", local(2, 12), channel="instagram", intent="greet")

    metric = history.metric("channel_funnel")
    channels = metric.details["channels"]
    assert channels["whatsapp"] == {"cycles": 2, "leads": 1, "qualified": 1, "won": 1, "lead_rate": 0.5,
                                    "qualified_rate": 1.0, "won_rate": 1.0, "cycle_to_won": 0.5}
    assert channels["sms"]["leads"] == 1 and channels["sms"]["qualified"] == 0
    assert metric.details["channels_without_sales"] == ["instagram", "sms"] and metric.value == 2
    only_sms = history.metric("channel_funnel", channel="sms")
    assert list(only_sms.details["channels"]) == ["sms"]


# --- 9. abandonment reasons ----------------------------------------------------------------
async def test_abandonment_reason_is_the_agents_label_or_the_last_bot_step(history):
    silent = history.customer("cus_silent")
    history.say(silent, "customer", local(2, 10), intent="product_price")
    history.say(silent, "bot", local(2, 10, 0, 2), response="utter_offer_purchase")
    labelled = history.customer("cus_labelled")
    history.say(labelled, "customer", local(3, 10), intent="purchase_intent")
    history.handoff(labelled, local(3, 10, 1), reason="sales_ready", resolved=local(3, 11), label="price")
    history.say(labelled, "agent", local(3, 10, 30))
    bought = history.customer("cus_bought")
    history.say(bought, "customer", local(4, 10), intent="purchase_intent")
    history.opportunity(bought, [(local(4, 10, 1), "new"), (local(5, 10), "won")])
    back = history.customer("cus_back")
    history.say(back, "customer", local(6, 10), intent="product_availability")
    history.say(back, "bot", local(6, 10, 0, 2))
    history.say(back, "customer", local(8, 10), intent="order_status")  # 2 days later: not silent 3 days
    history.say(back, "bot", local(8, 10, 0, 2))

    metric = history.metric("abandonment_reasons")
    assert (metric.numerator, metric.denominator) == (2, 4)
    assert metric.details["reasons"] == {"price": 1, "utter_offer_purchase": 1}
    rows = {r.customer_id: r.detail for r in metric.rows}
    assert rows["cus_labelled"]["source"] == "agent_label" and rows["cus_silent"]["source"] == "last_bot_step"


# --- standard ones -----------------------------------------------------------------------
async def test_bot_containment_and_handoff_rate_over_cycles_that_reached_the_bot(history):
    contained = history.customer("cus_contained")
    history.say(contained, "customer", local(2, 10), intent="payment_methods")
    history.say(contained, "bot", local(2, 10, 0, 2), response="utter_payment_methods")
    greeted = history.customer("cus_greeted")
    history.say(greeted, "customer", local(2, 11), intent="greet")
    history.say(greeted, "bot", local(2, 11, 0, 2), response="utter_greet")
    handed = history.customer("cus_handed")
    history.say(handed, "customer", local(2, 12), intent="complaint")
    history.say(handed, "bot", local(2, 12, 0, 2), response="utter_handoff")
    history.handoff(handed, local(2, 12, 0, 3), resolved=local(2, 13))
    history.say(handed, "agent", local(2, 12, 10))
    human = history.customer("cus_human")  # never reached the bot
    history.say(human, "customer", local(2, 14), intent="request_human")
    history.say(human, "agent", local(2, 14, 5))

    containment = history.metric("bot_containment")
    assert (containment.numerator, containment.denominator) == (1, 3)
    assert [r.customer_id for r in containment.rows] == ["cus_contained"]
    rate = history.metric("handoff_rate")
    assert (rate.numerator, rate.denominator) == (1, 3) and rate.details["by_reason"] == {"complaint": 1}


async def test_reopen_and_seven_day_durable_resolution(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), intent="refund_request")
    history.say(a, "bot", local(2, 10, 0, 2))
    history.case(a, "refund_request", local(2, 10), resolved=local(2, 12))
    history.say(a, "customer", local(4, 10), intent="refund_request")  # same subject, 2 days later: reopened
    history.say(a, "bot", local(4, 10, 0, 2))
    b = history.customer("cus_b")
    history.say(b, "customer", local(2, 10), intent="order_status")
    history.say(b, "bot", local(2, 10, 0, 2))
    history.say(b, "customer", local(5, 10), intent="product_price")  # back, another subject
    history.say(b, "bot", local(5, 10, 0, 2))
    c = history.customer("cus_c")
    history.say(c, "customer", local(2, 10), intent="invoice")
    history.say(c, "bot", local(2, 10, 0, 2))
    d = history.customer("cus_d")  # the customer spoke last: not resolved
    history.say(d, "customer", local(2, 10), intent="invoice")

    reopen = history.metric("reopen_rate")
    assert (reopen.numerator, reopen.denominator) == (1, 5)
    assert [r.customer_id for r in reopen.rows] == ["cus_a"]
    durable = history.metric("durable_resolution")
    assert (durable.numerator, durable.denominator) == (3, 5)
    assert sorted(r.customer_id for r in durable.rows) == ["cus_a", "cus_b", "cus_c"]  # the later cycles
    assert durable.details["by_how"] == {"answered": 3}
    # Seen on the 8th, no resolution is 7 days old yet: only the two that came back are decided.
    early = history.metric("durable_resolution", as_of=local(8, 10))
    assert (early.numerator, early.denominator) == (0, 2)


async def test_volume_by_channel(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), intent="greet")
    history.say(a, "bot", local(2, 10, 0, 1), response="utter_greet")
    history.say(a, "customer", local(2, 10, 1), channel="email", intent="invoice")  # same cycle, another channel
    history.say(a, "agent", local(2, 10, 5), channel="email")
    b = history.customer("cus_b")
    history.say(b, "customer", local(3, 10), channel="email", intent="invoice")
    history.say(b, "customer", local(3, 10), channel="email", intent="invoice", )
    history.say(b, "customer", local(1, 2, 0), channel="sms", intent="greet", )  # 05:00 UTC on the 1st: in range

    metric = history.metric("volume_by_channel")
    assert metric.value == 3
    assert metric.details["channels"] == {
        "email": {"cycles": 1, "customer_messages": 3, "bot_messages": 0, "agent_messages": 1, "customers": 2},
        "sms": {"cycles": 1, "customer_messages": 1, "bot_messages": 0, "agent_messages": 0, "customers": 1},
        "whatsapp": {"cycles": 1, "customer_messages": 1, "bot_messages": 1, "agent_messages": 0, "customers": 1},
    }


async def test_intents_the_bot_fails_on_most(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), intent="nlu_fallback", confidence=0.3)
    history.say(a, "bot", local(2, 10, 0, 1), response="utter_ask_rephrase")
    history.say(a, "customer", local(2, 10, 1), intent="order_status")
    history.say(a, "bot", local(2, 10, 1, 1), response="utter_default")  # the bot could not act on it
    history.say(a, "customer", local(2, 10, 2), intent="order_status")
    history.say(a, "bot", local(2, 10, 2, 1))
    history.say(a, "customer", local(2, 10, 3), intent="greet", confidence=0.2)
    b = history.customer("cus_b")
    history.say(b, "customer", local(3, 10), intent="order_status")
    history.handoff(b, local(3, 10, 0, 2), reason="not_understood")  # the bot gave up on it

    metric = history.metric("bot_failures")
    assert (metric.numerator, metric.denominator) == (4, 5)
    assert metric.details["intents"] == [
        {"intent": "order_status", "failures": 2, "messages": 3, "failure_rate": 0.6667},
        {"intent": "greet", "failures": 1, "messages": 1, "failure_rate": 1.0},
        {"intent": "nlu_fallback", "failures": 1, "messages": 1, "failure_rate": 1.0},
    ]
    assert sorted(r.detail["why"] for r in metric.rows) == [
        "fallback_reply", "handed_over_not_understood", "not_understood", "not_understood"]


async def test_an_empty_range_gives_empty_metrics_not_errors(history):
    report = history.report()
    assert report.metrics["first_useful_response"].value is None
    assert report.metrics["no_follow_up"].denominator == 0
    assert (report.metrics["csat"].value, report.metrics["csat"].details["asked"]) == (None, 0)
    assert set(report.to_dict()["metrics"]) == set(report.metrics)


async def test_the_channel_filter_keeps_cycles_that_started_on_it(history):
    a = history.customer("cus_a")
    history.say(a, "customer", local(2, 10), channel="instagram", intent="order_status")
    history.say(a, "bot", local(2, 10, 0, 2), channel="instagram")
    b = history.customer("cus_b")
    history.say(b, "customer", local(2, 10), channel="sms", intent="order_status")
    assert [r.customer_id for r in history.metric("volume_by_channel", channel="instagram").rows] == ["cus_a"]
    assert history.metric("no_follow_up", channel="instagram").denominator == 1
