"""Does the shipped pretrained embedding help the intent classifier? A quick check, no Rasa.

It compares, on the first `--folds-run` folds of the seeded stratified 5-fold that
threadline.evaluation.cross_validation uses, TfidfIntentClassifier's own model as config.yml sets
it (features and classifier, no calibration) against the same with the message's mean token vector
(threadline/nlu/embeddings.py, installed by `make setup`) appended to its TF-IDF features:
intent macro-F1 overall and per language. Minutes instead of the hour of `make nlu-report`, so
a designer can check a data change with it.

    .venv/bin/python -m threadline.evaluation.embedding_probe --folds-run 5

`--confidence` instead compares how far each candidate classifier's confidence can be acted
on (issue #14), on out-of-fold predictions of all 5 seeded folds, each temperature-scaled by a
temperature fitted on the other 4 folds' predictions: accuracy, macro-F1, log-loss, ECE, and at
config.yml's cost rule (answer when the chance of being right is >= 2/3; a wrong answer costs
three questions) the fallback rate, how much of it the ambiguity rule adds, confident-and-wrong
and the cost per message (questions + 3 x wrong answers); and the fallback rate at which the
answers given are 97 % right. For the first candidate it also scores the alternatives to one
temperature, each chosen on 4 folds and scored on the 5th: a temperature per language,
isotonic regression of the top confidence, and per-intent thresholds by the same cost rule.

    .venv/bin/python -m threadline.evaluation.embedding_probe --confidence
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.base import clone
from sklearn.metrics import f1_score

from threadline.evaluation.cross_validation import fold_indices, language_of
from threadline.nlu.calibration import fit_temperature, softmax, top_confidence_ece
from threadline.nlu.embeddings import EMBEDDINGS, mean_token_vectors
from threadline.quiet import quiet_library_warnings

# config.yml's rule: a wrong answer costs about three questions, so answer at p >= 2/3.
WRONG_ANSWER_COST = 3.0
ANSWER_AT = 1 - 1 / WRONG_ANSWER_COST
AMBIGUITY = 0.1  # config.yml's FallbackClassifier ambiguity_threshold
THRESHOLD_GRID = np.round(np.arange(0.30, 0.96, 0.01), 2)
# The candidates --confidence compares: TfidfIntentClassifier settings over its defaults.
CONFIDENCE_CANDIDATES: Dict[str, Dict[str, object]] = {
    "linear SVM, C 2 (config.yml)": {"classifier": "linear_svm", "C": 2},
    "logistic regression, C 10 (before)": {"classifier": "logistic_regression", "C": 10},
    "linear SVM, C 0.5": {"classifier": "linear_svm", "C": 0.5},
}

def _macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return round(float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro",
                                zero_division=0)), 3)


def per_intent_report(truth: Sequence[str], guesses: Sequence[str], texts: Sequence[str]) -> str:
    """Per-intent F1 (weakest first) and each intent's out-of-fold mistakes, for a designer."""
    labels = sorted(set(truth))
    scores = f1_score(truth, guesses, labels=labels, average=None, zero_division=0)
    lines = []
    for label, score in sorted(zip(labels, scores), key=lambda pair: pair[1]):
        wrong = Counter(g for t, g in zip(truth, guesses) if t == label and g != label)
        taken = Counter(t for t, g in zip(truth, guesses) if g == label and t != label)
        lines.append(f"{score:.3f} {label:28} n={list(truth).count(label):3} "
                     f"as: {dict(wrong.most_common(3))} from: {dict(taken.most_common(3))}")
    lines += [f"  {t} -> {g}: {x!r}" for t, g, x in sorted(zip(truth, guesses, texts)) if t != g]
    return "\n".join(lines)


def configured_classifier_settings(config: Path = Path("config.yml")) -> Dict[str, Any]:
    """The settings config.yml gives TfidfIntentClassifier (classifier, C, ...)."""
    import yaml

    pipeline = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("pipeline") or []
    entry = next((c for c in pipeline if str(c.get("name", "")).endswith("TfidfIntentClassifier")), {})
    return {key: value for key, value in entry.items() if key != "name"}


def probe(nlu: Path, embedding_name: str, folds: int, folds_run: int,
          per_intent: str = "") -> Dict[str, Dict[str, float]]:
    from rasa.shared.nlu.training_data.loading import load_data

    from threadline.nlu.catalogue import load_catalogue
    from threadline.nlu.tfidf_intent_classifier import TfidfIntentClassifier, build_pipeline

    # config.yml's classifier and its settings, without the embedding: the probe appends it
    # itself, to score the model with and without it.
    settings = {**TfidfIntentClassifier.get_default_config(), **configured_classifier_settings(),
                "embedding": None}
    model = build_pipeline(settings, load_catalogue(Path(settings["catalogue"])))
    examples = [e for e in load_data(str(nlu)).intent_examples if e.get("intent") and e.get("text")]
    texts = np.array([e.get("text") for e in examples], dtype=object)
    labels = np.array([e.get("intent") for e in examples])
    languages = np.array([language_of(e) for e in examples])
    embedding = mean_token_vectors(embedding_name, list(texts))
    predicted: Dict[str, List[str]] = {"tfidf": [], "tfidf + embedding": []}
    truth: List[str] = []
    tested_texts: List[str] = []
    tested_languages: List[str] = []
    seconds: Dict[str, float] = {name: 0.0 for name in predicted}
    for train, test in fold_indices(list(labels), folds)[:folds_run]:
        features = clone(model.named_steps["features"])
        train_x, test_x = features.fit_transform(list(texts[train])), features.transform(list(texts[test]))
        inputs = {"tfidf": (train_x, test_x),
                  "tfidf + embedding": (hstack([train_x, csr_matrix(embedding[train])]).tocsr(),
                                        hstack([test_x, csr_matrix(embedding[test])]).tocsr())}
        for name, (fit_on, score_on) in inputs.items():
            started = time.perf_counter()
            classifier = clone(model.named_steps["classifier"]).fit(fit_on, labels[train])
            seconds[name] += time.perf_counter() - started
            predicted[name] += list(classifier.predict(score_on))
        truth += list(labels[test])
        tested_languages += list(languages[test])
        tested_texts += list(texts[test])
    if per_intent:
        keep = [i for i, lang in enumerate(tested_languages) if lang == per_intent]
        print(per_intent_report([truth[i] for i in keep], [predicted["tfidf + embedding"][i] for i in keep],
                                [tested_texts[i] for i in keep]))
    result = {}
    for name, guesses in predicted.items():
        result[name] = {"macro_f1": _macro_f1(truth, guesses),
                        "accuracy": round(float(np.mean(np.array(guesses) == np.array(truth))), 3),
                        "fit_seconds_per_fold": round(seconds[name] / folds_run, 1)}
        for language in sorted(set(tested_languages)):
            keep = [i for i, lang in enumerate(tested_languages) if lang == language]
            result[name][f"macro_f1_{language}"] = _macro_f1([truth[i] for i in keep],
                                                             [guesses[i] for i in keep])
    return result


def acting_figures(probabilities: np.ndarray, truth: np.ndarray, threshold: Any,
                   confidence: Optional[np.ndarray] = None) -> Dict[str, float]:
    """What customers meet when the bot answers at `threshold` (one per message, or a scalar)
    and the FallbackClassifier's ambiguity rule also applies: rates in % of the messages, and
    the cost per message (a question 1, a wrong answer WRONG_ANSWER_COST). `confidence`, when
    given, replaces the top probability for the threshold (an isotonic map of it)."""
    ordered = np.sort(probabilities, axis=1)
    top, second = ordered[:, -1], ordered[:, -2]
    if confidence is not None:
        top = confidence
    right = probabilities.argmax(axis=1) == truth
    below = top < threshold
    ambiguous_only = ~below & (top - second < AMBIGUITY)
    asked = below | ambiguous_only
    wrong = ~asked & ~right
    return {"fallback": round(100 * float(asked.mean()), 2),
            "fallback_ambiguity_only": round(100 * float(ambiguous_only.mean()), 2),
            "right_but_asked": round(100 * float((asked & right).mean()), 2),
            "confident_wrong": round(100 * float(wrong.mean()), 2),
            "cost": round(float((asked + WRONG_ANSWER_COST * wrong).mean()), 4)}


def fallback_at_accuracy(confidence: np.ndarray, right: np.ndarray, accuracy: float = 0.97) -> float:
    """The share of messages (%) the bot must ask about so the answers it gives, the most
    confident first, are at least `accuracy` right."""
    running = np.cumsum(right[np.argsort(-confidence)]) / np.arange(1, len(right) + 1)
    answered = np.flatnonzero(running >= accuracy)
    return round(100 * (1 - (answered.max() + 1 if len(answered) else 0) / len(right)), 2)


def cost_threshold(confidence: np.ndarray, right: np.ndarray, default: float = ANSWER_AT) -> float:
    """The lowest threshold of THRESHOLD_GRID with the least cost on these messages."""
    if not len(confidence):
        return default
    costs = [float((confidence < t).sum() + WRONG_ANSWER_COST * ((confidence >= t) & ~right).sum())
             for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmin(costs))])


def nested_temperature(scores: np.ndarray, truth: np.ndarray, fold_of: np.ndarray,
                       groups: Optional[np.ndarray] = None) -> np.ndarray:
    """Each fold's probabilities by a temperature fitted on the other folds (one per group,
    e.g. per language, when `groups` is given)."""
    groups = np.zeros(len(truth), int) if groups is None else groups
    out = np.zeros_like(scores, dtype=float)
    for fold in np.unique(fold_of):
        for group in np.unique(groups):
            fit = (fold_of != fold) & (groups == group)
            if not fit.any():
                fit = fold_of != fold
            apply = (fold_of == fold) & (groups == group)
            out[apply] = softmax(scores[apply] / fit_temperature(scores[fit], truth[fit]))
    return out


def per_intent_thresholds(probabilities: np.ndarray, truth: np.ndarray,
                          fold_of: np.ndarray) -> np.ndarray:
    """Each message's threshold: the cost-minimising one for its predicted intent, chosen on
    the other folds (the global one for an intent never predicted there)."""
    top, predicted = probabilities.max(axis=1), probabilities.argmax(axis=1)
    right = predicted == truth
    out = np.zeros(len(truth))
    for fold in np.unique(fold_of):
        fit = fold_of != fold
        overall = cost_threshold(top[fit], right[fit])
        for intent in np.unique(predicted[fold_of == fold]):
            chosen = fit & (predicted == intent)
            out[(fold_of == fold) & (predicted == intent)] = cost_threshold(
                top[chosen], right[chosen], overall)
    return out


def _confidence_row(probabilities: np.ndarray, truth: np.ndarray, languages: np.ndarray,
                    threshold: Any = ANSWER_AT, confidence: Optional[np.ndarray] = None
                    ) -> Dict[str, float]:
    right = probabilities.argmax(axis=1) == truth
    acted_on = probabilities.max(axis=1) if confidence is None else confidence
    threshold = np.broadcast_to(np.asarray(threshold, dtype=float), truth.shape)
    row = {"accuracy": round(100 * float(right.mean()), 2),
           "macro_f1": round(float(f1_score(truth, probabilities.argmax(axis=1), average="macro")), 4),
           "log_loss": round(float(-np.mean(np.log(np.clip(
               probabilities[np.arange(len(truth)), truth], 1e-12, 1.0)))), 4),
           "ece": round(top_confidence_ece(acted_on, right), 4),
           **acting_figures(probabilities, truth, threshold, acted_on),
           "fallback_at_97": fallback_at_accuracy(acted_on, right)}
    for language in ("en", "pt"):
        keep = languages == language
        row[f"fallback_{language}"] = acting_figures(probabilities[keep], truth[keep],
                                                     threshold[keep], acted_on[keep])["fallback"]
    return row


def confidence_probe(nlu: Path, folds: int = 5) -> Dict[str, Dict[str, float]]:
    """Out-of-fold confidence figures of CONFIDENCE_CANDIDATES, and of the alternatives to one
    temperature for the first of them (module docstring)."""
    from rasa.shared.nlu.training_data.loading import load_data
    from sklearn.isotonic import IsotonicRegression

    from threadline.nlu.calibration import out_of_fold_scores
    from threadline.nlu.catalogue import load_catalogue
    from threadline.nlu.tfidf_intent_classifier import TfidfIntentClassifier, build_pipeline

    examples = [e for e in load_data(str(nlu)).intent_examples if e.get("intent") and e.get("text")]
    texts = [e.get("text") for e in examples]
    labels = [e.get("intent") for e in examples]
    languages = np.array([language_of(e) for e in examples])
    fold_of = np.zeros(len(labels), int)
    for number, (_, test) in enumerate(fold_indices(labels, folds)):
        fold_of[test] = number
    defaults = {**TfidfIntentClassifier.get_default_config(), "embedding": "wordllama-l2-supercat-256"}
    catalogue = load_catalogue(Path(defaults["catalogue"]))
    rows: Dict[str, Dict[str, float]] = {}
    for position, (name, settings) in enumerate(CONFIDENCE_CANDIDATES.items()):
        config = {**defaults, **settings}
        started = time.perf_counter()
        scores, truth = out_of_fold_scores(lambda: build_pipeline(config, catalogue), texts, labels,
                                           folds)
        seconds = time.perf_counter() - started
        probabilities = nested_temperature(scores, truth, fold_of)
        rows[name] = {**_confidence_row(probabilities, truth, languages),
                      "fit_seconds_per_fold": round(seconds / folds, 1)}
        print(name, rows[name], flush=True)
        if position:
            continue
        rows[f"{name}: temperature per language"] = _confidence_row(
            nested_temperature(scores, truth, fold_of, np.where(languages == "pt", 1, 0)),
            truth, languages)
        right = probabilities.argmax(axis=1) == truth
        mapped = np.zeros(len(truth))
        for fold in range(folds):
            fit = fold_of != fold
            isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            isotonic.fit(probabilities[fit].max(axis=1), right[fit])
            mapped[~fit] = isotonic.predict(probabilities[~fit].max(axis=1))
        rows[f"{name}: isotonic top confidence"] = _confidence_row(
            probabilities, truth, languages, confidence=mapped)
        rows[f"{name}: per-intent thresholds"] = _confidence_row(
            probabilities, truth, languages, threshold=per_intent_thresholds(probabilities, truth, fold_of))
    return rows


def main() -> None:
    quiet_library_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlu", default="data/nlu")
    parser.add_argument("--embedding", default="wordllama-l2-supercat-256", choices=sorted(EMBEDDINGS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--folds-run", type=int, default=2)
    parser.add_argument("--confidence", action="store_true",
                        help="compare the candidates' out-of-fold confidence (module docstring)")
    parser.add_argument("--per-intent", default="", metavar="LANGUAGE",
                        help="also print, for that language (en, pt), the per-intent F1 of tfidf + "
                             "embedding and its out-of-fold mistakes")
    args = parser.parse_args()
    if args.confidence:
        for name, figures in confidence_probe(Path(args.nlu), args.folds).items():
            print(name, figures)
        return
    for name, figures in probe(Path(args.nlu), args.embedding, args.folds, args.folds_run,
                               args.per_intent).items():
        print(name, figures)


if __name__ == "__main__":
    main()
