"""Does a small pretrained embedding shipped inside a PyPI package help the intent classifier?

The embedding: `wordllama` (PyPI, MIT) ships `wordllama/weights/l2_supercat_256.safetensors`
(32,000 x 256 token vectors distilled from Llama-2's embedding table) and its tokenizer
(`wordllama/tokenizers/l2_supercat_tokenizer_config.json`, Llama-2 BPE). Nothing is
downloaded at run time. The package itself cannot go into Rasa 3.6's environment (it requires
numpy >= 2 and pydantic >= 2; Rasa 3.6 pins numpy 1.23 and pydantic 1.10), so this probe reads
the two files directly: the vectors with `safetensors` (already in .venv), the tokenizer with
HuggingFace `tokenizers` (not in .venv; give it on PYTHONPATH).

It compares, on the first `--folds-run` folds of the seeded stratified 5-fold that
threadline.evaluation.cross_validation uses, TfidfIntentClassifier's own model (features and
logistic regression, no calibration) against the same with the message's mean token vector
(L2-normalised) appended to its TF-IDF features: intent macro-F1 overall and per language.

    .venv/bin/pip download --no-deps -d /tmp/wl wordllama==0.4.0.post1 && unzip /tmp/wl/*.whl -d /tmp/wl
    PYTHONPATH=/path/with/tokenizers .venv/bin/python -m threadline.evaluation.embedding_probe \\
        --package-dir /tmp/wl/wordllama --folds-run 2
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

WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"


class MeanTokenEmbedding:
    """A text's vector: the mean of its tokens' vectors, L2-normalised."""

    def __init__(self, package_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self._vectors = next(iter(load_file(str(package_dir / WEIGHTS)).values())).astype(np.float32)
        self._tokenizer = Tokenizer.from_file(str(package_dir / TOKENIZER))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._vectors.shape[1]), np.float32)
        for row, encoding in enumerate(self._tokenizer.encode_batch([t.lower() for t in texts])):
            ids = [i for i in encoding.ids if i < len(self._vectors)]
            if ids:
                out[row] = self._vectors[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return round(float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro",
                                zero_division=0)), 3)


def probe(nlu: Path, package_dir: Path, folds: int, folds_run: int) -> Dict[str, Dict[str, float]]:
    from rasa.shared.nlu.training_data.loading import load_data

    from threadline.nlu.catalogue import load_catalogue
    from threadline.nlu.tfidf_intent_classifier import TfidfIntentClassifier, build_pipeline

    settings = {**TfidfIntentClassifier.get_default_config(), "C": 10}
    model = build_pipeline(settings, load_catalogue(Path(settings["catalogue"])))
    examples = [e for e in load_data(str(nlu)).intent_examples if e.get("intent") and e.get("text")]
    texts = np.array([e.get("text") for e in examples], dtype=object)
    labels = np.array([e.get("intent") for e in examples])
    languages = np.array([language_of(e) for e in examples])
    embedding = MeanTokenEmbedding(package_dir)(list(texts))
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlu", default="data/nlu")
    parser.add_argument("--package-dir", required=True, type=Path,
                        help="the unpacked wordllama/ folder of the wordllama wheel")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--folds-run", type=int, default=2)
    args = parser.parse_args()
    for name, figures in probe(Path(args.nlu), args.package_dir, args.folds, args.folds_run).items():
        print(name, figures)


if __name__ == "__main__":
    main()
