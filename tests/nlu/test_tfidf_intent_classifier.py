"""The intent classifier's masking: structured values become placeholders before featurising."""
from pathlib import Path

from threadline.nlu.catalogue import CatalogueEntry
from threadline.nlu.tfidf_intent_classifier import CataloguePlaceholders, mask_structured


def test_order_codes_emails_and_phones_become_one_word_each():
    masked = mask_structured("order TL-48213 or #583920, mail ana.souza@gmail.com, call +55 11 98765-4321")
    assert masked.split() == ["order", "ordercode", "or", "ordercode", ",", "mail", "emailaddress",
                              ",", "call", "phonenumber"]


def test_other_numbers_become_a_number_word_but_words_with_digits_stay():
    assert mask_structured("3 units, size 42").split() == ["somenumber", "units,", "size", "somenumber"]
    assert mask_structured("pay in 10x, error 402").split() == ["pay", "in", "10x,", "error", "somenumber"]


def test_text_without_structured_values_is_unchanged():
    assert mask_structured("where is my refund") == "where is my refund"


def test_catalogue_products_and_plans_become_placeholders_in_any_case():
    catalogue = [CatalogueEntry("product", "Trailhead Backpack", ("trailhead",)),
                 CatalogueEntry("plan", "Club Plus", ("plus plan",))]
    preprocess = CataloguePlaceholders(catalogue)
    assert preprocess("Any TRAILHEAD left? or the Plus Plan").split() == \
        ["any", "productname", "left?", "or", "the", "planname"]
    assert preprocess("trailheads and plus shipping") == "trailheads and plus shipping"


# Calibration: a temperature fitted on out-of-fold predictions of the training data is stored
# with the model (plain JSON), survives loading, and rescales confidences without reordering.
INTENT_EXAMPLES = {
    "order_status": ["where is my order", "has my parcel shipped", "track my package please",
                     "when does my order arrive", "is my delivery on its way", "order status",
                     "my package has not arrived", "tracking for my order"],
    "refund_request": ["i want my money back", "please refund me", "refund my purchase",
                       "give me a refund", "can i get a refund", "money back please",
                       "i need a refund for this", "send my money back"],
    "greet": ["hello", "hi there", "good morning", "hey", "hi", "hello there", "good evening",
              "hey hey"],
}
PROBES = ["where is my parcel", "refund please", "hello again", "my order and a refund", "banana"]


def _train(tmp_path, folds: int, **settings):
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from threadline.nlu.tfidf_intent_classifier import TfidfIntentClassifier

    directory = tmp_path / f"model-{len(list(tmp_path.iterdir()))}"
    directory.mkdir()
    storage = LocalModelStorage(directory)
    resource = Resource(f"tfidf-{folds}")
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**TfidfIntentClassifier.get_default_config(), "calibration_folds": folds, **settings}
    component = TfidfIntentClassifier.create(config, storage, resource, context)
    component.train(TrainingData([Message(data={"text": text, "intent": intent})
                                  for intent, texts in INTENT_EXAMPLES.items() for text in texts]))
    return TfidfIntentClassifier.load(config, storage, resource, context), storage, resource


def _ranking(component, text):
    from rasa.shared.nlu.training_data.message import Message

    message = component.process([Message(data={"text": text})])[0]
    return [(entry["name"], entry["confidence"]) for entry in message.get("intent_ranking")]


def test_temperature_round_trips_and_changes_confidences_but_not_the_ranking(tmp_path):
    import json

    from threadline.nlu.tfidf_intent_classifier import MODEL_FILE

    calibrated, storage, resource = _train(tmp_path, folds=4)
    plain, _, _ = _train(tmp_path, folds=0)
    with storage.read_from(resource) as directory:
        stored = json.loads((directory / MODEL_FILE).read_text())["calibration"]
    assert stored["temperature"] == calibrated._calibration.temperature
    assert stored["temperature"] != 1.0
    assert 0.0 <= stored["suggested_threshold"] <= 1.0
    assert stored["nll_after"] <= stored["nll_before"]
    assert plain._calibration is None

    for text in PROBES:
        with_temperature, without = _ranking(calibrated, text), _ranking(plain, text)
        assert [name for name, _ in with_temperature] == [name for name, _ in without]
        assert abs(with_temperature[0][1] - without[0][1]) > 1e-3
        assert abs(sum(c for _, c in with_temperature) - 1.0) < 1e-6


# The shipped embedding (make setup installs it): its vectors join the TF-IDF features, the
# stored model names it, and a model whose embedding files are missing says how to fix it.
EMBEDDING = "wordllama-l2-supercat-256"


def test_a_model_with_the_embedding_round_trips_and_uses_it(tmp_path):
    import json

    import numpy as np

    from threadline.nlu.tfidf_intent_classifier import MODEL_FILE

    with_embedding, storage, resource = _train(tmp_path, folds=0, embedding=EMBEDDING)
    without, _, _ = _train(tmp_path, folds=0)
    with storage.read_from(resource) as directory:
        assert json.loads((directory / MODEL_FILE).read_text())["settings"]["embedding"] == EMBEDDING
    features = with_embedding._model.named_steps["features"].transform(["where is my parcel"])
    plain = without._model.named_steps["features"].transform(["where is my parcel"])
    assert features.shape[1] == plain.shape[1] + 256
    assert np.isclose(np.linalg.norm(features[:, plain.shape[1]:].toarray()), 1.0)
    assert _ranking(with_embedding, "where is my parcel")[0][0] == "order_status"
    assert _ranking(with_embedding, "can i have my money back")[0][0] == "refund_request"


def test_a_model_whose_embedding_is_not_installed_names_the_fix(tmp_path, monkeypatch):
    import pytest

    from threadline.nlu import embeddings

    _, storage, resource = _train(tmp_path, folds=0, embedding=EMBEDDING)
    monkeypatch.setattr(embeddings.ShippedEmbedding, "directory", lambda self: tmp_path / "nowhere")
    embeddings._loaded.cache_clear()
    try:
        from rasa.engine.graph import ExecutionContext, GraphSchema

        from threadline.nlu.tfidf_intent_classifier import TfidfIntentClassifier

        with pytest.raises(embeddings.EmbeddingMissing, match="make setup"):
            TfidfIntentClassifier.load({"embedding": EMBEDDING}, storage, resource,
                                       ExecutionContext(GraphSchema({}), "test"))
    finally:
        embeddings._loaded.cache_clear()


# The linear SVM (config.yml's choice, issue #14): its margins become probabilities by the
# same out-of-fold temperature; the stored model is plain arrays and parses as it was trained.
def test_a_linear_svm_model_round_trips_as_plain_arrays_and_is_calibrated(tmp_path):
    import json

    import numpy as np
    from sklearn.svm import LinearSVC

    from threadline.nlu.catalogue import load_catalogue
    from threadline.nlu.tfidf_intent_classifier import ARRAYS_FILE, MODEL_FILE, build_pipeline

    svm, storage, resource = _train(tmp_path, folds=4, classifier="linear_svm", C=1.0)
    with storage.read_from(resource) as directory:
        stored = json.loads((directory / MODEL_FILE).read_text())
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
            assert all(arrays[name].dtype.kind == "f" for name in arrays.files)
    assert stored["settings"]["classifier"] == "linear_svm"
    assert isinstance(svm._model.named_steps["classifier"], LinearSVC)
    assert stored["calibration"]["nll_after"] <= stored["calibration"]["nll_before"]

    # The loaded model scores a message exactly as the model fitted in memory did.
    config = {**svm._config}
    fitted = build_pipeline(config, load_catalogue(Path(config["catalogue"])))
    fitted.fit([t for texts in INTENT_EXAMPLES.values() for t in texts],
               [i for i, texts in INTENT_EXAMPLES.items() for _ in texts])
    assert np.allclose(fitted.decision_function(PROBES), svm._model.decision_function(PROBES))

    assert _ranking(svm, "where is my parcel")[0][0] == "order_status"
    assert _ranking(svm, "can i have my money back")[0][0] == "refund_request"
    for text in PROBES:
        assert abs(sum(c for _, c in _ranking(svm, text)) - 1.0) < 1e-6


def test_an_unknown_classifier_is_refused_by_name():
    import pytest

    from threadline.nlu.tfidf_intent_classifier import TfidfIntentClassifier, build_pipeline

    with pytest.raises(ValueError, match="linear_svm"):
        build_pipeline({**TfidfIntentClassifier.get_default_config(), "classifier": "forest"}, [])


def test_a_model_stored_before_the_classifier_setting_loads_as_a_logistic_regression(tmp_path):
    import json

    from sklearn.linear_model import LogisticRegression

    from threadline.nlu.tfidf_intent_classifier import MODEL_FILE, load_pipeline

    trained, storage, resource = _train(tmp_path, folds=0)
    with storage.write_to(resource) as directory:
        saved = json.loads((directory / MODEL_FILE).read_text())
        saved["settings"].pop("classifier")
        (directory / MODEL_FILE).write_text(json.dumps(saved))
        model = load_pipeline(directory)
    assert isinstance(model.named_steps["classifier"], LogisticRegression)
    assert list(model.predict(PROBES)) == list(trained._model.predict(PROBES))

