"""The NLU components: exactly which language each parsed message gets, and the intent."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from threadline.nlu.language import shared_detector
from threadline.nlu.language import MessageLanguage, OtherLanguageIntent

ORDER = {"entity": "order_id", "value": "TL-48213", "start": 16, "end": 24, "extractor": "rules"}


def parsed(text: str, intent: str = "order_status") -> dict:
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [ORDER]})
    [message] = OtherLanguageIntent().process(MessageLanguage(shared_detector()).process([message]))
    result = {key: message.get(key) for key in ("intent", "entities")}
    if "language" in message.output_properties:  # what reaches the parse data and the tracker
        result["language"] = message.get("language")
    return result


@pytest.mark.parametrize("text, language", [
    ("obg", "pt"), ("vlw", "pt"), ("oi, cadê meu pedido TL-48213?", "pt"),
    ("thx", "en"), ("where is my order TL-48213?", "en"),
    # Catalogue names carry no language; Portuguese that lingua splits with Spanish is Portuguese.
    ("quanto ta a Trailhead Backpack?", "pt"), ("qual o status do pedido TL-31402?", "pt"),
    ("quero comprar a mochila", "pt"), ("queremos comprar 25 Atlas Office Chair pro escritorio novo", "pt"),
    ("is the Orbit Smartwatch waterproof?", "en"),
])
def test_a_spoken_language_is_in_the_parse_data(text, language):
    result = parsed(text)
    assert result["language"] == language
    assert result["intent"]["name"] == "order_status"
    assert result["entities"] == [ORDER]  # no entity of its own: stories and reports unchanged


@pytest.mark.parametrize("text", ["ok", "TL-48213", "👍", "#48213", "maria.souza@example.com", "hmm",
                                  "o Orbit Smartwatch", "Trailhead Backpack"])
def test_a_message_without_language_gets_none(text):
    result = parsed(text)
    assert "language" not in result
    assert result["intent"]["name"] == "order_status"


@pytest.mark.parametrize("text", ["hola, quiero hablar con una persona", "mi pedido todavía no llegó",
                                  "¿tienen el Orbit Smartwatch en negro?"])
def test_spanish_becomes_the_other_language_intent(text):
    result = parsed(text, intent="request_human")
    assert result["language"] == "es"
    assert result["intent"] == {"name": "other_language", "confidence": 1.0}


def test_a_spoken_message_keeps_the_classifier_intent():
    assert parsed("quero falar com um atendente", intent="request_human")["intent"]["name"] == "request_human"


def test_create_shares_one_detector_per_process():
    first = MessageLanguage.create({}, None, None, None)
    second = MessageLanguage.create({}, None, None, None)
    assert first.detector is second.detector
