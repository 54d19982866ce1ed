"""The language of each message, as an entity: `language` = en | pt, or es with role `unspoken`.

`LanguageEntity` runs right after the tokenizer. When threadline.language is sure of the
message's language it adds the entity; a short or ambiguous message ("ok", "TL-48213", "👍")
gets none, so the `language` slot (from_entity) keeps the customer's current language.

A language the assistant does not speak (Spanish) is emitted with role `unspoken`: the slot
mapping has no role, so the slot is not switched to it, and `OtherLanguageIntent`, after the
classifiers, makes the intent `other_language`, which data/rules.yml answers with
`utter_languages_spoken` in the customer's language, then hands over when the customer
insists. It is a separate step because the classifiers overwrite any intent set before them.

    - name: threadline.nlu.language.LanguageEntity
    ...
    - name: threadline.nlu.language.OtherLanguageIntent
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_ROLE, ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE, ENTITY_ATTRIBUTE_VALUE, EXTRACTOR, INTENT, INTENT_NAME_KEY,
    PREDICTED_CONFIDENCE_KEY, TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from threadline.language.detect import SPOKEN, LanguageDetector, shared_detector

LANGUAGE = "language"
UNSPOKEN = "unspoken"
OTHER_LANGUAGE_INTENT = "other_language"


def language_entity(text: str, language: str) -> Dict[Text, Any]:
    entity = {ENTITY_ATTRIBUTE_TYPE: LANGUAGE, ENTITY_ATTRIBUTE_VALUE: language,
              ENTITY_ATTRIBUTE_START: 0, ENTITY_ATTRIBUTE_END: len(text),
              EXTRACTOR: LanguageEntity.__name__}
    if language not in SPOKEN:
        entity[ENTITY_ATTRIBUTE_ROLE] = UNSPOKEN
    return entity


def unspoken_language(message: Message) -> Optional[str]:
    return next((e[ENTITY_ATTRIBUTE_VALUE] for e in message.get(ENTITIES) or []
                 if e.get(ENTITY_ATTRIBUTE_TYPE) == LANGUAGE and e.get(ENTITY_ATTRIBUTE_ROLE) == UNSPOKEN),
                None)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LanguageEntity(GraphComponent):
    def __init__(self, detector: LanguageDetector) -> None:
        self.detector = detector

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LanguageEntity":
        return cls(shared_detector())

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            language = self.detector.detect(text) if text else None
            if language is None:
                continue
            message.set(ENTITIES, [*(message.get(ENTITIES) or []), language_entity(text, language)],
                        add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OtherLanguageIntent(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "OtherLanguageIntent":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if unspoken_language(message) is not None:
                message.set(INTENT, {INTENT_NAME_KEY: OTHER_LANGUAGE_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0},
                            add_to_output=True)
        return messages
