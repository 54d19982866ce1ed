"""Place names and noise carry no language (issue #16, found by tests/conversations/).

"do you ship to Portugal?" was read as Portuguese, so an English customer on Instagram got the
delivery answer in Portuguese; "hmmm blorp" was read as Portuguese too, switching a customer
for a made-up word. A place is nobody's language, and a message with no real word keeps the
customer's current language (None).
"""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from threadline.language.places import place_names
from threadline.nlu.language import LANGUAGE, MessageLanguage, shared_detector


@pytest.mark.parametrize("text", [
    "do you ship to Portugal?", "do you ship to Brazil?", "do you ship to Spain?",
    "do you ship to Argentina?", "do you ship to Mexico?", "can you ship to Germany?",
    "do you deliver to Rio de Janeiro?", "ship to Belo Horizonte?",
    "I'm in Porto Alegre", "I live in São Paulo", "I live in sao paulo",
])
def test_english_naming_a_place_stays_english(text):
    assert shared_detector().detect(text) == "en"


@pytest.mark.parametrize("text", [
    "vocês entregam em Portugal?", "entregam na Argentina?", "enviam pra Espanha?",
    "vcs mandam pro Japão?", "entregam no Rio Grande do Sul?",
])
def test_portuguese_naming_a_place_stays_portuguese(text):
    assert shared_detector().detect(text) == "pt"


@pytest.mark.parametrize("text", ["Portugal", "São Paulo", "Porto Alegre", "Argentina", "Espanha"])
def test_a_place_alone_keeps_the_current_language(text):
    assert shared_detector().detect(text) is None


@pytest.mark.parametrize("text", [
    "hmmm blorp", "blorp", "asdkj qwpeoi zzz", "lalala",
    "hmm", "hmmm", "ok", "okk", "👍", "🙏🙏", "ok 👍", "haha",
])
def test_noise_keeps_the_current_language(text):
    assert shared_detector().detect(text) is None


# Brazilian laughter is typed by Brazilians only (English laughs "haha", Spanish "jajaja"): it is
# evidence of Portuguese, as tests/language/detection_set.yml labels it.
@pytest.mark.parametrize("text", ["kkkkk", "kkkkkkkk", "rsrs", "kkkkk 😂"])
def test_brazilian_laughter_is_portuguese(text):
    assert shared_detector().detect(text) == "pt"


def test_words_that_are_a_place_only_without_their_accent_still_count():
    # "Pará" and "Irã" are places; "para" and "ira" are Portuguese words.
    assert {"Pará", "Irã"} <= place_names()
    assert not {"Para", "para", "Ira", "ira"} & place_names()
    assert shared_detector().detect("para de me mandar mensagem") == "pt"


@pytest.mark.parametrize("text, language", [("do you ship to Portugal?", "en"), ("hmmm blorp", None)])
def test_what_reaches_the_parse_data(text, language):
    """The component `make run`'s pipeline runs: None means no `language` in the parse data,
    so the customer's `language` slot is kept."""
    [message] = MessageLanguage(shared_detector()).process([Message(data={"text": text})])
    assert (message.get(LANGUAGE) if LANGUAGE in message.output_properties else None) == language


def test_a_name_written_with_punctuation_is_removed_whole():
    assert shared_detector().words_of("do you ship to St. Lucia or Guinea-Bissau?") == ["do", "you", "ship", "to", "or"]
