"""The language of each message, in the parse data as `language`: "en", "pt", "es", or absent.

`MessageLanguage` runs right after the tokenizer. When threadline.language is sure of the
message's language it sets `language`; a short or ambiguous message ("ok", "TL-48213", "👍")
gets none, so the `language` slot keeps the customer's current language. The slot is set
from it by action_validate_slot_mappings (actions/language.py), for the languages we speak.

Why not an entity: an entity on nearly every message would be a prediction the conversation
tests (`make test-stories`, entities compared exactly) and the NLU reports (entity F1) do not
expect, in every story and held-out message.

A language the assistant does not speak (Spanish) makes the intent `other_language`, by
`OtherLanguageIntent` after the classifiers (they overwrite any intent set before them);
data/rules.yml answers it with `utter_languages_spoken` in the customer's language and hands
over when the customer insists.

    - name: threadline.nlu.language.MessageLanguage
    ...
    - name: threadline.nlu.language.OtherLanguageIntent
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from threadline.language.detect import SPOKEN, LanguageDetector
from threadline.nlu.catalogue import load_catalogue
from threadline.settings import PROJECT_DIR

CATALOGUE = PROJECT_DIR / "data" / "catalogue" / "products.csv"
LANGUAGE = "language"
OTHER_LANGUAGE_INTENT = "other_language"


@lru_cache(maxsize=1)
def shared_detector() -> LanguageDetector:
    """One detector per process: lingua's models are loaded once. Product and plan names, which
    belong to no language ("o Orbit Smartwatch" is Portuguese), come from the catalogue the
    intent classifier reads."""
    entries = load_catalogue(CATALOGUE)
    return LanguageDetector(names=[phrase for entry in entries for phrase in entry.phrases()])


# Registered as an extractor: that type runs on parsed messages only (a featurizer would also
# run on the training data, which needs no language).
@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class MessageLanguage(GraphComponent):
    def __init__(self, detector: LanguageDetector) -> None:
        self.detector = detector

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "MessageLanguage":
        return cls(shared_detector())

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            language = self.detector.detect(text) if text else None
            if language is not None:
                message.set(LANGUAGE, language, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OtherLanguageIntent(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "OtherLanguageIntent":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            language = message.get(LANGUAGE)
            if language is not None and language not in SPOKEN:
                message.set(INTENT, {INTENT_NAME_KEY: OTHER_LANGUAGE_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0},
                            add_to_output=True)
        return messages
