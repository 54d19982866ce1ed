"""A trained model is data, not code: the intent classifier stores JSON and plain arrays, and
loading a model never unpickles anything, whatever files a tampered model contains.

The classifier is trained on the project's NLU data through Rasa's real model storage, as
`make train` does, then loaded as `make run` loads it.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from threadline.nlu.tfidf_intent_classifier import ARRAYS_FILE, MODEL_FILE, TfidfIntentClassifier
from threadline.settings import PROJECT_DIR

PROBES = ["where is my order TL-48213?", "I want a refund", "is the Aurora lamp in stock?", "482913",
          "my email is ana@example.com", "hello", "I want to talk to a person", "qwerty asdf"]
CONTEXT = ExecutionContext(GraphSchema({}), "test")
RESOURCE = Resource("tfidf_intent_classifier")


class Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(config, storage folder, the classifier as trained)."""
    folder = tmp_path_factory.mktemp("model")
    config = {**TfidfIntentClassifier.get_default_config(),
              "catalogue": str(PROJECT_DIR / "data/catalogue/products.csv")}
    classifier = TfidfIntentClassifier.create(config, LocalModelStorage(folder), RESOURCE, CONTEXT)
    classifier.train(few_per_intent(load_data(str(PROJECT_DIR / "data/nlu")), 12))
    return config, folder, classifier


def few_per_intent(data: TrainingData, count: int) -> TrainingData:
    """Every intent, fewer examples: the same model shape, trained in seconds."""
    kept: dict = {}
    for example in data.intent_examples:
        kept.setdefault(example.get(INTENT), []).append(example)
    return TrainingData([e for examples in kept.values() for e in examples[:count]])


def load(config, folder: Path) -> TfidfIntentClassifier:
    return TfidfIntentClassifier.load(config, LocalModelStorage(folder), RESOURCE, CONTEXT)


def rankings(classifier: TfidfIntentClassifier) -> list:
    messages = classifier.process([Message({TEXT: text}) for text in PROBES])
    return [[(r["name"], r["confidence"]) for r in m.get(INTENT_RANKING_KEY)] for m in messages]


def stored(folder: Path) -> Path:
    [directory] = [p for p in folder.iterdir() if p.is_dir()]
    return directory


def test_a_loaded_model_predicts_exactly_what_the_trained_one_did(trained):
    config, folder, original = trained
    loaded = load(config, folder)
    before, after = rankings(original), rankings(loaded)
    assert [[name for name, _ in r] for r in before] == [[name for name, _ in r] for r in after]
    assert np.allclose([[c for _, c in r] for r in before], [[c for _, c in r] for r in after], rtol=0, atol=1e-12)
    full_before = original._model.predict_proba(PROBES)
    assert np.allclose(full_before, loaded._model.predict_proba(PROBES), rtol=0, atol=1e-12)
    assert loaded.process([Message({TEXT: "where is my order TL-48213?"})])[0].get(INTENT)["name"] == "order_status"
    assert len({name for name, _ in after[0]}) == 10  # a real ranking, not one class


def test_the_stored_model_is_json_and_plain_arrays(trained):
    _, folder, _ = trained
    directory = stored(folder)
    assert sorted(p.name for p in directory.iterdir()) == sorted([MODEL_FILE, ARRAYS_FILE])
    with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
        assert all(arrays[name].dtype.kind == "f" for name in arrays.files)
    with zipfile.ZipFile(directory / ARRAYS_FILE) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())


def test_a_pickle_dropped_into_the_model_is_never_loaded(trained, tmp_path):
    """The old model file name, holding a payload: ignored, the model still loads and works."""
    config, folder, original = trained
    marker = tmp_path / "pwned"
    for name in ("tfidf_intent_classifier.joblib", "tfidf_intent_classifier.pkl"):
        (stored(folder) / name).write_bytes(pickle.dumps(Payload(marker)))
    try:
        assert rankings(load(config, folder)) == rankings(original)
    finally:
        for name in ("tfidf_intent_classifier.joblib", "tfidf_intent_classifier.pkl"):
            (stored(folder) / name).unlink()
    assert not marker.exists()


def test_a_pickled_array_in_the_model_is_refused_not_run(trained, tmp_path):
    config, folder, _ = trained
    marker = tmp_path / "pwned"
    tampered = tmp_path / "tampered"
    (tampered / stored(folder).name).mkdir(parents=True)
    target = tampered / stored(folder).name
    (target / MODEL_FILE).write_bytes((stored(folder) / MODEL_FILE).read_bytes())
    with np.load(stored(folder) / ARRAYS_FILE, allow_pickle=False) as arrays:
        contents = {name: arrays[name] for name in arrays.files}
    contents["coef"] = np.array([Payload(marker)], dtype=object)  # np.savez pickles object arrays
    np.savez(target / ARRAYS_FILE, **contents)
    with pytest.raises(ValueError, match="allow_pickle"):
        load(config, tampered)
    assert not marker.exists()
