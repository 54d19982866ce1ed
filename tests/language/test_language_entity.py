"""The NLU components: exactly which `language` entity each message gets, and the intent."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from threadline.language.detect import shared_detector
from threadline.nlu.language import LanguageEntity, OtherLanguageIntent


def parsed(text: str, intent: str = "order_status", entities=None) -> Message:
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": 0.9},
                            "entities": list(entities or [])})
    [message] = OtherLanguageIntent().process(LanguageEntity(shared_detector()).process([message]))
    return message


@pytest.mark.parametrize("text, language", [
    ("obg", "pt"), ("vlw", "pt"), ("oi, cadê meu pedido TL-48213?", "pt"),
    ("thx", "en"), ("where is my order TL-48213?", "en"),
])
def test_a_spoken_language_is_an_entity_the_slot_takes(text, language):
    assert parsed(text).get("entities") == [
        {"entity": "language", "value": language, "start": 0, "end": len(text), "extractor": "LanguageEntity"}]


@pytest.mark.parametrize("text", ["ok", "TL-48213", "👍", "#48213", "maria.souza@example.com", "hmm"])
def test_a_message_without_language_gets_no_entity(text):
    message = parsed(text)
    assert message.get("entities") == []
    assert message.get("intent")["name"] == "order_status"


def test_other_entities_are_kept():
    order = {"entity": "order_id", "value": "TL-48213", "start": 16, "end": 24, "extractor": "rules"}
    message = parsed("cade meu pedido TL-48213", entities=[order])
    assert [e["entity"] for e in message.get("entities")] == ["order_id", "language"]


def test_spanish_is_unspoken_and_becomes_the_other_language_intent():
    text = "hola, quiero hablar con una persona"
    message = parsed(text, intent="request_human")
    assert message.get("entities") == [{"entity": "language", "value": "es", "role": "unspoken", "start": 0,
                                        "end": len(text), "extractor": "LanguageEntity"}]
    assert message.get("intent") == {"name": "other_language", "confidence": 1.0}


def test_a_spoken_message_keeps_the_classifier_intent():
    assert parsed("quero falar com um atendente", intent="request_human").get("intent")["name"] == "request_human"


def test_create_shares_one_detector_per_process():
    first = LanguageEntity.create({}, None, None, None)
    second = LanguageEntity.create({}, None, None, None)
    assert first.detector is second.detector
