"""Temperature scaling of intent scores, fitted on out-of-fold predictions of the training set.

Why a temperature: a logistic regression on many sparse n-grams with class weights and a weak
penalty ranks intents well but spreads its probability mass over the many intents that share a
few n-grams with the message, so a right answer often comes with 0.3-0.5 confidence and the
fallback asks a customer to rephrase a clear question. One temperature rescales every score
alike: it cannot reorder the ranking (the argmax never changes) and, having one parameter, it
cannot overfit the out-of-fold set. Measured against the uncalibrated model in
docs/designers-guide.md ("Calibration"). A linear SVM's margins are no probabilities at all
(their plain softmax is far too flat); the same temperature turns them into ones, which is
Platt scaling with one parameter shared by every intent.

Why out-of-fold: on its own training examples a model is far surer than on new messages, so
the temperature is fitted on probabilities from k models each trained without the examples
they score. Only the training data is used; held-out sets stay held out.
"""
from __future__ import annotations

import logging

from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Sequence, Tuple

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.model_selection import StratifiedKFold

# Bounds on log(temperature): a temperature between 0.05 and 20 covers every sane case.
LOG_TEMPERATURE_BOUNDS = (np.log(0.05), np.log(20.0))
CALIBRATION_BINS = 10
log = logging.getLogger(__name__)

SPLIT_SEED = 42


@dataclass(frozen=True)
class Calibration:
    """The fitted temperature and what it did to the out-of-fold predictions."""
    temperature: float
    folds: int
    examples: int
    nll_before: float  # mean negative log-likelihood of the true intent, temperature 1
    nll_after: float
    ece_before: float  # expected calibration error of the top intent, 10 equal-width bins
    ece_after: float
    accuracy: float  # out-of-fold top-intent accuracy (the same before and after)
    # The lowest threshold at which the answers above it are at least `target_accuracy` right,
    # and how many out-of-fold answers would fall below it.
    target_accuracy: float
    suggested_threshold: float
    fallback_rate_at_suggested: float

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Calibration":
        return cls(**data)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax; a 1-D array is a binary model's score for its second class."""
    if scores.ndim == 1:
        scores = np.column_stack([np.zeros_like(scores), scores])
    shifted = scores - scores.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def out_of_fold_scores(make_model: Callable[[], Any], texts: Sequence[str],
                       labels: Sequence[str], folds: int) -> Tuple[np.ndarray, np.ndarray]:
    """Decision scores for every text from a model trained on the other folds, with the class
    order of the sorted labels (scikit-learn's `classes_`); and each text's true class index."""
    classes = np.array(sorted(set(labels)))
    truth = np.searchsorted(classes, np.asarray(labels))
    scores = np.zeros((len(texts), len(classes)))
    texts_array = np.asarray(texts, dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SPLIT_SEED)
    for fold, (train_index, test_index) in enumerate(splitter.split(texts_array, truth), start=1):
        # `make train` turns this line into a progress line (threadline/training.py): the folds
        # are most of the intent classifier's training time.
        log.info("Training step: calibration fold %d of %d", fold, folds)
        model = make_model()
        model.fit(list(texts_array[train_index]), list(np.asarray(labels)[train_index]))
        fold_scores = model.decision_function(list(texts_array[test_index]))
        if fold_scores.ndim == 1:
            fold_scores = np.column_stack([np.zeros_like(fold_scores), fold_scores])
        scores[test_index] = fold_scores
    return scores, truth


def negative_log_likelihood(scores: np.ndarray, truth: np.ndarray, temperature: float) -> float:
    probabilities = softmax(scores / temperature)
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(truth)), truth], 1e-12, 1.0))))


def top_confidence_ece(confidence: np.ndarray, correct: np.ndarray,
                       bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error of the top intent, equal-width bins (as `make nlu-report`)."""
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def suggested_threshold(confidence: np.ndarray, correct: np.ndarray,
                        target_accuracy: float) -> float:
    """The lowest threshold (in steps of 0.01) whose answers at or above it are at least
    `target_accuracy` right; the bot asks below it."""
    for threshold in np.round(np.arange(0.0, 1.0, 0.01), 2):
        above = confidence >= threshold
        if above.any() and correct[above].mean() >= target_accuracy:
            return float(threshold)
    return 1.0


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    result = minimize_scalar(lambda log_t: negative_log_likelihood(scores, truth, np.exp(log_t)),
                             bounds=LOG_TEMPERATURE_BOUNDS, method="bounded")
    return float(np.exp(result.x))


def fit_calibration(make_model: Callable[[], Any], texts: Sequence[str], labels: Sequence[str],
                    folds: int, target_accuracy: float) -> Calibration:
    """Out-of-fold scores of the training set, the temperature that minimises their log-loss,
    and the fallback threshold the calibrated confidences support."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    # Every intent must be in every training fold: an intent with fewer examples caps k.
    folds = max(2, min(folds, int(counts.min())))
    scores, truth = out_of_fold_scores(make_model, texts, labels, folds)
    temperature = fit_temperature(scores, truth)
    before, after = softmax(scores), softmax(scores / temperature)
    correct = before.argmax(axis=1) == truth
    threshold = suggested_threshold(after.max(axis=1), correct, target_accuracy)
    return Calibration(
        temperature=round(temperature, 4),
        folds=folds,
        examples=len(texts),
        nll_before=round(negative_log_likelihood(scores, truth, 1.0), 4),
        nll_after=round(negative_log_likelihood(scores, truth, temperature), 4),
        ece_before=round(top_confidence_ece(before.max(axis=1), correct), 4),
        ece_after=round(top_confidence_ece(after.max(axis=1), correct), 4),
        accuracy=round(float(correct.mean()), 4),
        target_accuracy=target_accuracy,
        suggested_threshold=threshold,
        fallback_rate_at_suggested=round(float((after.max(axis=1) < threshold).mean()), 4),
    )

