"""How threadline.evaluation.heldout turns Rasa parse results into the held-out figures.

Small hand-made parse results, so each rule (what counts as asking, as confidently wrong, as
offered) is pinned without loading a model.
"""
from __future__ import annotations


from threadline.evaluation.heldout import fallback_threshold, figures_of, outcome_of
from threadline.settings import PROJECT_DIR


def parse(final: str, confidence: float, *ranking: tuple) -> dict:
    return {"intent": {"name": final, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking]}


def test_the_threshold_is_the_one_config_yml_uses():
    # The cost rule on calibrated confidences (config.yml's comment); config.yml
    # and the pipeline it was compared as must not drift apart.
    assert fallback_threshold(PROJECT_DIR / "config.yml") == 0.67
    assert fallback_threshold(PROJECT_DIR / "pipelines" / "tfidf_calibrated.yml") == 0.67


def test_a_fallback_is_asking_and_offers_the_classifiers_two_best():
    outcome = outcome_of("order_status", "en", parse(
        "nlu_fallback", 0.4, ("nlu_fallback", 0.4), ("delivery_time", 0.33),
        ("order_status", 0.3), ("greet", 0.1)), threshold=0.4)
    assert outcome.fell_back and not outcome.confident_and_wrong
    assert outcome.offered == ["delivery_time", "order_status"]
    assert outcome.in_top_two and not outcome.right


def test_acting_on_the_wrong_intent_is_confident_and_wrong():
    outcome = outcome_of("refund_request", "pt", parse(
        "refund_status", 0.8, ("refund_status", 0.8), ("refund_request", 0.1)), threshold=0.4)
    assert outcome.confident_and_wrong and not outcome.fell_back


def test_a_relabel_after_the_classifier_is_what_the_bot_acts_on():
    # EscalationDetector turns an angry order question into a complaint.
    outcome = outcome_of("complaint", "en", parse(
        "complaint", 1.0, ("order_status", 0.7), ("complaint", 0.2)), threshold=0.4)
    assert outcome.right and outcome.offered == ["complaint", "order_status"]


def test_rates_count_each_kind_once():
    outcomes = [
        outcome_of("greet", "en", parse("greet", 0.9, ("greet", 0.9)), 0.4),
        outcome_of("greet", "en", parse("nlu_fallback", 0.4, ("greet", 0.3), ("thank", 0.2)), 0.4),
        outcome_of("greet", "en", parse("thank", 0.9, ("thank", 0.9), ("deny", 0.05)), 0.4),
        outcome_of("greet", "en", parse("nlu_fallback", 0.4, ("deny", 0.3), ("thank", 0.2)), 0.4),
    ]
    figures = figures_of(outcomes)
    assert (figures.accuracy, figures.right_confident_rate, figures.fallback_rate,
            figures.confident_wrong_rate, figures.top_two_rate) == (0.5, 0.25, 0.5, 0.25, 0.5)
    assert figures.mistaken_for == {"thank": 1, "deny (asked)": 1}
