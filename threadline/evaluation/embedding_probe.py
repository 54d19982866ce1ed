"""Does the shipped pretrained embedding help the intent classifier? A quick check, no Rasa.

It compares, on the first `--folds-run` folds of the seeded stratified 5-fold that
threadline.evaluation.cross_validation uses, TfidfIntentClassifier's own model (features and
logistic regression, no calibration) against the same with the message's mean token vector
(threadline/nlu/embeddings.py, installed by `make setup`) appended to its TF-IDF features:
intent macro-F1 overall and per language. Minutes instead of the hour of `make nlu-report`, so
a designer can check a data change with it.

    .venv/bin/python -m threadline.evaluation.embedding_probe --folds-run 5
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.base import clone
from sklearn.metrics import f1_score

from threadline.evaluation.cross_validation import fold_indices, language_of
from threadline.nlu.embeddings import EMBEDDINGS, mean_token_vectors
from threadline.quiet import quiet_library_warnings

def _macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return round(float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro",
                                zero_division=0)), 3)


def probe(nlu: Path, embedding_name: str, folds: int, folds_run: int) -> Dict[str, Dict[str, float]]:
    from rasa.shared.nlu.training_data.loading import load_data

    from threadline.nlu.catalogue import load_catalogue
    from threadline.nlu.tfidf_intent_classifier import TfidfIntentClassifier, build_pipeline

    settings = {**TfidfIntentClassifier.get_default_config(), "C": 10}
    model = build_pipeline(settings, load_catalogue(Path(settings["catalogue"])))
    examples = [e for e in load_data(str(nlu)).intent_examples if e.get("intent") and e.get("text")]
    texts = np.array([e.get("text") for e in examples], dtype=object)
    labels = np.array([e.get("intent") for e in examples])
    languages = np.array([language_of(e) for e in examples])
    embedding = mean_token_vectors(embedding_name, list(texts))
    predicted: Dict[str, List[str]] = {"tfidf": [], "tfidf + embedding": []}
    truth: List[str] = []
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


def main() -> None:
    quiet_library_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlu", default="data/nlu")
    parser.add_argument("--embedding", default="wordllama-l2-supercat-256", choices=sorted(EMBEDDINGS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--folds-run", type=int, default=2)
    args = parser.parse_args()
    for name, figures in probe(Path(args.nlu), args.embedding, args.folds, args.folds_run).items():
        print(name, figures)


if __name__ == "__main__":
    main()
