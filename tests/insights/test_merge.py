"""A merge of two customers makes one history: the metrics see one person across channels."""
from __future__ import annotations

from tests.insights.history import History, local


async def test_after_a_merge_an_order_number_given_on_another_channel_counts_as_repeated(services):
    history = History(services.db)
    insta = history.customer("cus_insta")
    whats = history.customer("cus_whats", phone="+5511987654321")
    history.say(insta, "customer", local(2, 10), channel="instagram", intent="order_status",
                entities=[("order_id", "TL-48213")])
    history.say(insta, "bot", local(2, 10, 0, 2), channel="instagram")
    history.say(whats, "customer", local(2, 15), channel="whatsapp", intent="order_status")
    history.say(whats, "bot", local(2, 15, 0, 2), channel="whatsapp", response="utter_ask_order_id")
    history.say(whats, "customer", local(2, 15, 1), channel="whatsapp", intent="provide_order_number",
                entities=[("order_id", "TL-48213")])
    history.say(whats, "bot", local(2, 15, 1, 2), channel="whatsapp")

    before = history.report()
    assert before.metrics["volume_by_channel"].value == 2  # two people, one cycle each
    assert before.metrics["repeated_information"].numerator == 0

    await services.merge()(whats, insta, actor="ops", reason="same person")

    after = history.report()
    assert after.metrics["volume_by_channel"].value == 1  # one person, one cycle across two channels
    repeated = after.metrics["repeated_information"]
    assert (repeated.numerator, repeated.denominator) == (1, 1)
    assert [(r.customer_id, r.detail["hows"]) for r in repeated.rows] == [("cus_whats", ["asked by bot"])]
    assert after.metrics["volume_by_channel"].rows[0].cycle_id.startswith("cus_whats:")


async def test_after_a_merge_the_page_figures_see_one_person_without_a_rebuild(services):
    from tests.insights.history import AFTER, CONFIG, NOVEMBER
    from threadline.insights.aggregates import aggregated_metrics, rebuild_aggregates

    history = History(services.db)
    insta = history.customer("cus_insta")
    whats = history.customer("cus_whats", phone="+5511987654321")
    history.say(insta, "customer", local(2, 10), channel="instagram", intent="order_status",
                entities=[("order_id", "TL-48213")])
    history.say(insta, "bot", local(2, 10, 0, 2), channel="instagram")
    history.say(whats, "customer", local(2, 15), channel="whatsapp", intent="order_status")
    history.say(whats, "bot", local(2, 15, 0, 2), channel="whatsapp", response="utter_ask_order_id")
    rebuild_aggregates(services.db, CONFIG.hours.zone)

    def page():
        return aggregated_metrics(services.db, NOVEMBER.first, NOVEMBER.last, as_of=AFTER, config=CONFIG)
    assert (page()["repeated_information"].numerator, page()["repeated_information"].denominator) == (0, 2)

    await services.merge()(whats, insta, actor="ops", reason="same person")

    fast, full = page(), history.report().metrics
    assert (fast["repeated_information"].numerator, fast["repeated_information"].denominator) == (1, 1)
    for name, metric in fast.items():
        if name != "volume_by_channel":  # daily counters stay as counted until a rebuild (docs/insights.md)
            assert (metric.value, metric.numerator, metric.denominator, dict(metric.details)) == (
                full[name].value, full[name].numerator, full[name].denominator, dict(full[name].details)), name
