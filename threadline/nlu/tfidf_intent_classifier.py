"""Intent classifier: a linear model over TF-IDF word and character n-grams.

The linear model is a logistic regression or (config.yml, `classifier: linear_svm`) a linear
SVM. On out-of-fold predictions of the training data the SVM, its margins temperature-scaled
like the regression's scores, ranks more messages right, asks about fewer at the same 2/3 rule
without more wrong answers, and fits in a fraction of the time
(`python -m threadline.evaluation.embedding_probe --confidence`).

Why not Rasa's LogisticRegressionClassifier on CountVectorsFeaturizer: raw counts let long
messages outweigh short ones and give frequent words as much say as rare, telling ones.
Sublinear TF-IDF with L2 normalisation fixes both, and measured better in cross-validation
(docs/designers-guide.md, "Pipeline comparison"). Order numbers, e-mails and phones are
replaced by a placeholder word before featurising (and so are other numbers and the products
and plans of the catalogue), so "TL-48213" and "#583920" look the same to the classifier, "12"
and "40" too, a phone number does not look like a quantity, and a product named only in
price questions does not make "is the X in stock?" a price question.

It reads the message text itself (no featurizer needed) in config.yml:
    - name: threadline.nlu.tfidf_intent_classifier.TfidfIntentClassifier
      catalogue: data/catalogue/products.csv

The trained model is stored as plain data, never pickled (loading a pickle runs whatever code
it names, so a swapped model file would be code execution; CVE-2024-49375 is the same for
Rasa's own components): a JSON file with the settings, the catalogue, both vocabularies and the
intents, and an `.npz` of plain float arrays (IDF weights, coefficients, intercepts) read with
`allow_pickle=False`. Loading rebuilds the scikit-learn pipeline from them.

Confidence is calibrated on the training data alone (threadline/nlu/calibration.py): at train
time a stratified k-fold of the training set gives every example a probability from a model
that never saw it, and one temperature is fitted to minimise the log-loss of those out-of-fold
probabilities. Parsing divides the logistic regression's scores by that temperature before the
softmax, which changes how sure the ranking is, never its order. The same out-of-fold
confidences give the fallback threshold the data supports (stored beside the temperature, and
printed by `make nlu-report`); config.yml's FallbackClassifier threshold is set from it.
"""
from __future__ import annotations

import json
import re
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Pattern, Text, Union

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_union
from sklearn.svm import LinearSVC

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from threadline.nlu.calibration import Calibration, fit_calibration, softmax
from threadline.nlu.catalogue import CatalogueEntry, catalogue_digest, load_catalogue
from threadline.nlu.embeddings import MeanTokenEmbedding, require
from threadline.nlu.structured_entities import PHONE_CANDIDATE, PHONE_SEPARATED_MIN_DIGITS

MODEL_FILE = "tfidf_intent_classifier.json"
ARRAYS_FILE = "tfidf_intent_classifier.npz"
PIPELINE_SETTINGS = ("word_ngrams", "char_ngrams", "C", "max_iter", "embedding", "classifier")
# The linear model over the features: both store plain coefficients and intercepts.
CLASSIFIERS = ("logistic_regression", "linear_svm")
EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
ORDER_CODE = re.compile(r"(?<!\w)(?:[A-Za-z]{2,3}-?\d{4,10}|#\d{4,10})(?!\w)")
NUMBER = re.compile(r"(?<![\w.,])\d+(?!\w|[.,]\d)")
# A lone 6-digit number is the shape of our one-time codes; a quantity or a price never is.
ONE_TIME_CODE = re.compile(r"(?<![\w.,])\d{6}(?!\w|[.,]\d)")


def mask_structured(text: str) -> str:
    """Replace e-mails, order codes, phones, one-time codes and other numbers with one
    placeholder word each."""
    text = EMAIL.sub(" emailaddress ", text)
    text = ORDER_CODE.sub(" ordercode ", text)
    text = PHONE_CANDIDATE.sub(
        lambda m: " phonenumber " if sum(c.isdigit() for c in m.group()) >= PHONE_SEPARATED_MIN_DIGITS
        else m.group(), text)
    text = ONE_TIME_CODE.sub(" onetimecode ", text)
    return NUMBER.sub(" somenumber ", text)


class CataloguePlaceholders:
    """The text preprocessor: structured values and catalogue names become placeholders."""

    def __init__(self, catalogue: Iterable[CatalogueEntry]) -> None:
        entries = list(catalogue)
        self._patterns = [(_phrases_pattern(e for e in entries if e.kind == kind), f" {kind}name ")
                          for kind in ("product", "plan")]

    def __call__(self, text: str) -> str:
        text = mask_structured(text)
        for pattern, placeholder in self._patterns:
            if pattern is not None:
                text = pattern.sub(placeholder, text)
        return text.lower()


def _phrases_pattern(entries: Iterable[CatalogueEntry]) -> Optional[Pattern[str]]:
    phrases = sorted({p.lower() for e in entries for p in e.phrases()}, key=len, reverse=True)
    if not phrases:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, phrases)) + r")(?!\w)", re.IGNORECASE)


def build_pipeline(config: Dict[Text, Any], catalogue: Iterable[CatalogueEntry]) -> Pipeline:
    """The scikit-learn model; also used by exploration scripts, so their figures match."""
    preprocess = CataloguePlaceholders(catalogue)
    words = TfidfVectorizer(ngram_range=tuple(config["word_ngrams"]), sublinear_tf=True,
                            token_pattern=r"(?u)\b\w+\b", preprocessor=preprocess)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(config["char_ngrams"]),
                            sublinear_tf=True, preprocessor=preprocess)
    # The pretrained vectors know that "sign up" and "register" are near; n-grams of our own
    # examples cannot (docs/designers-guide.md, "Pipeline comparison").
    embedding = [MeanTokenEmbedding(config["embedding"])] if config.get("embedding") else []
    return Pipeline([("features", make_union(words, chars, *embedding)),
                     ("classifier", _classifier(config))])


def _classifier(config: Dict[Text, Any]) -> Union[LogisticRegression, LinearSVC]:
    """The linear model `config["classifier"]` names (a model stored before the setting existed
    is a logistic regression). Either's scores become probabilities by the calibration's
    temperature-scaled softmax; for the SVM's margins that is multiclass Platt scaling with
    one parameter (threadline/nlu/calibration.py)."""
    name = config.get("classifier") or "logistic_regression"
    if name == "logistic_regression":
        return LogisticRegression(C=config["C"], max_iter=config["max_iter"],
                                  class_weight="balanced", random_state=42)
    if name == "linear_svm":
        return LinearSVC(C=config["C"], max_iter=config["max_iter"], class_weight="balanced",
                         random_state=42)
    raise ValueError(f"unknown classifier {name!r}; known: {', '.join(CLASSIFIERS)}")


def _vectorizers(model: Pipeline) -> List[TfidfVectorizer]:
    """The fitted TF-IDF steps (the embedding step has nothing fitted to store)."""
    return [step for _, step in model.named_steps["features"].transformer_list
            if isinstance(step, TfidfVectorizer)]


def save_pipeline(model: Pipeline, config: Dict[Text, Any], catalogue: List[CatalogueEntry],
                  directory: Path, calibration: Optional[Calibration] = None) -> None:
    """What `load_pipeline` needs to rebuild `model` (and its calibration), as JSON and plain
    arrays."""
    vectorizers = _vectorizers(model)
    classifier = model.named_steps["classifier"]
    (directory / MODEL_FILE).write_text(json.dumps({
        "settings": {name: config.get(name) for name in PIPELINE_SETTINGS},
        "catalogue": [entry.to_dict() for entry in catalogue],
        "vocabularies": [{term: int(index) for term, index in v.vocabulary_.items()} for v in vectorizers],
        "classes": [str(name) for name in classifier.classes_],
        "calibration": None if calibration is None else calibration.to_dict(),
    }, ensure_ascii=False), encoding="utf-8")
    np.savez(directory / ARRAYS_FILE, coef=classifier.coef_, intercept=classifier.intercept_,
             **{f"idf_{i}": v.idf_ for i, v in enumerate(vectorizers)})


def load_calibration(directory: Path) -> Optional[Calibration]:
    """The calibration `save_pipeline` stored; None for a model trained without one."""
    saved = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
    return None if saved.get("calibration") is None else Calibration.from_dict(saved["calibration"])


def load_pipeline(directory: Path) -> Pipeline:
    """The pipeline `save_pipeline` stored, fitted state restored attribute by attribute."""
    saved = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
    if saved["settings"].get("embedding"):
        require(saved["settings"]["embedding"])
    model = build_pipeline(saved["settings"], [CatalogueEntry.from_dict(e) for e in saved["catalogue"]])
    with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
        for i, vectorizer in enumerate(_vectorizers(model)):
            vectorizer.vocabulary_ = saved["vocabularies"][i]
            vectorizer.fixed_vocabulary_ = False
            vectorizer.idf_ = arrays[f"idf_{i}"]
        classifier = model.named_steps["classifier"]
        classifier.classes_ = np.array(saved["classes"])
        classifier.coef_ = arrays["coef"]
        classifier.intercept_ = arrays["intercept"]
        classifier.n_features_in_ = classifier.coef_.shape[1]
    return model


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Predicts the intent and a ranking of the most likely ones."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # calibration_folds 0 or 1: no calibration, the logistic regression's own probabilities.
        return {"word_ngrams": [1, 2], "char_ngrams": [2, 5], "C": 10.0, "max_iter": 2000,
                "ranking_length": 10, "catalogue": "data/catalogue/products.csv",
                "calibration_folds": 5, "fallback_target_accuracy": 0.97,
                # One of CLASSIFIERS: the linear model over the features.
                "classifier": "logistic_regression",
                # A name of threadline.nlu.embeddings.EMBEDDINGS, or None for TF-IDF alone.
                "embedding": None}

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        return catalogue_digest(Path(config.get("catalogue", cls.get_default_config()["catalogue"])))

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, model: Optional[Pipeline] = None,
                 calibration: Optional[Calibration] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        self._calibration = calibration

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TfidfIntentClassifier":
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TfidfIntentClassifier":
        with ExitStack() as stack:
            try:
                directory = stack.enter_context(model_storage.read_from(resource))
            except ValueError:  # trained without intent examples: nothing was stored
                return cls(config, model_storage, resource, None)
            # Anything wrong in the stored files (a pickled array included) raises here.
            return cls(config, model_storage, resource, load_pipeline(directory),
                       load_calibration(directory))

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if len({e.get(INTENT) for e in examples}) < 2:
            return self._resource
        catalogue = load_catalogue(Path(self._config["catalogue"]))
        texts = [e.get(TEXT) for e in examples]
        labels = [e.get(INTENT) for e in examples]
        self._model = build_pipeline(self._config, catalogue)
        self._model.fit(texts, labels)
        self._calibration = None
        if self._config["calibration_folds"] > 1:
            self._calibration = fit_calibration(
                lambda: build_pipeline(self._config, catalogue), texts, labels,
                self._config["calibration_folds"], self._config["fallback_target_accuracy"])
        with self._model_storage.write_to(self._resource) as directory:
            save_pipeline(self._model, self._config, catalogue, directory, self._calibration)
        return self._resource

    def probabilities(self, texts: List[str]) -> np.ndarray:
        """Intent probabilities per text, in the order of the model's classes, calibrated when
        the model was trained with a calibration."""
        scores = self._model.decision_function(texts)
        temperature = 1.0 if self._calibration is None else self._calibration.temperature
        return softmax(scores / temperature)

    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        texts = [message.get(TEXT) or "" for message in messages]
        intents = self._model.classes_
        for message, probabilities in zip(messages, self.probabilities(texts)):
            ranking = sorted(({"name": name, "confidence": float(p)}
                              for name, p in zip(intents, probabilities)),
                             key=lambda entry: -entry["confidence"])
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking[: self._config["ranking_length"]],
                        add_to_output=True)
        return messages
