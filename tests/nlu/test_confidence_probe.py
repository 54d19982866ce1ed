"""The out-of-fold confidence probe (threadline.evaluation.embedding_probe --confidence): what
it counts as a question, a wrong answer and their cost, on hand-made probabilities."""
import numpy as np

from threadline.evaluation.embedding_probe import (ANSWER_AT, acting_figures, cost_threshold,
                                                   fallback_at_accuracy, nested_temperature,
                                                   per_intent_thresholds)


def test_questions_wrong_answers_and_their_cost_per_message():
    probabilities = np.array([[0.9, 0.05, 0.05],   # right, answered
                              [0.5, 0.3, 0.2],     # right, but asked (below 2/3)
                              [0.1, 0.8, 0.1],     # wrong, answered
                              [0.4, 0.45, 0.15]])  # wrong, asked
    truth = np.array([0, 0, 0, 0])
    figures = acting_figures(probabilities, truth, ANSWER_AT)
    assert figures["fallback"] == 50.0
    assert figures["right_but_asked"] == 25.0
    assert figures["confident_wrong"] == 25.0
    assert figures["cost"] == (1 + 1 + 3) / 4


def test_the_ambiguity_rule_adds_no_question_above_a_threshold_of_0_55():
    # Probabilities sum to 1: a top intent at 0.67 or more leaves the second at 0.33 or less.
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(2000, 6)) * 3
    probabilities = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    truth = rng.integers(0, 6, size=2000)
    assert acting_figures(probabilities, truth, ANSWER_AT)["fallback_ambiguity_only"] == 0.0
    assert acting_figures(probabilities, truth, 0.4)["fallback_ambiguity_only"] > 0.0


def test_the_cost_rule_threshold_asks_where_answering_would_cost_more():
    # Below 0.6 one answer in two is wrong (answering costs 1.5 a message, asking 1); above, none.
    confidence = np.array([0.4, 0.45, 0.5, 0.55, 0.7, 0.8, 0.9])
    right = np.array([True, False, True, False, True, True, True])
    assert cost_threshold(confidence, right) == 0.56
    assert cost_threshold(np.array([]), np.array([], bool), default=0.67) == 0.67


def test_fallback_needed_for_a_given_accuracy_of_the_answers_given():
    confidence = np.array([0.9, 0.8, 0.7, 0.6])
    right = np.array([True, True, False, True])
    assert fallback_at_accuracy(confidence, right, accuracy=1.0) == 50.0
    assert fallback_at_accuracy(confidence, right, accuracy=0.75) == 0.0


def test_nested_choices_use_only_the_other_folds():
    # Fold 1's scores are far too sure; a temperature fitted on fold 0 must not see that.
    truth = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    scores = np.array([[2, 0], [0, 2], [0, 2], [2, 0], [9, 0], [0, 9], [0, 9], [9, 0]], float)
    fold_of = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    nested = nested_temperature(scores, truth, fold_of)
    assert np.allclose(nested.sum(axis=1), 1.0)
    assert (nested.argmax(axis=1) == scores.argmax(axis=1)).all()
    thresholds = per_intent_thresholds(nested, truth, fold_of)
    assert thresholds.shape == truth.shape
    assert ((thresholds >= 0.3) & (thresholds <= 0.95)).all()
