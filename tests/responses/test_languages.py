"""Every response in the customer's language (issue #16).

Rasa's own generator over the real domain.yml: a customer whose slot `language` is unset or
"en" gets exactly what the domain without its pt variants gives (today's English text), and a
"pt" customer the pt-BR variant of the same channel, on every channel. `make validate` fails on
a response without its pt-BR variant (threadline/validation.py).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import numpy as np
import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.structures import StoryGraph
from rasa.shared.nlu.training_data.training_data import TrainingData

from connectors.webhook.text import sms_segments
from threadline.settings import PROJECT_DIR
from threadline.validation import missing_translations, project_validator, variant_language

DOMAIN = Domain.load(str(PROJECT_DIR / "domain.yml"))
RESPONSES: Dict[str, List[Dict[str, Any]]] = DOMAIN.responses
ENGLISH_ONLY = {name: [v for v in variants if variant_language(v) is None] for name, variants in RESPONSES.items()}
PT_CONDITION = [{"type": "slot", "name": "language", "value": "pt"}]
# The connectors' channels, and one with no variants of its own (Rasa's REST channel).
CHANNELS = ("whatsapp", "instagram", "sms", "email", "rest")
SLOTS = {"order_id": "TL-48213", "email": "ana@example.com"}
BUTTON_TITLE_LIMIT = 20  # WhatsApp reply buttons (domain.yml, actions/clarify.py)


def render(responses: Dict[str, List[Dict[str, Any]]], name: str, channel: str,
           language: Optional[str]) -> Dict[str, Any]:
    # Rasa picks at random among equally suitable variations: the same seed makes two domains
    # with the same candidates pick the same one.
    np.random.seed(16)
    rendered = TemplatedNaturalLanguageGenerator(responses).generate_from_slots(
        name, {**SLOTS, "language": language}, channel, intent_label="Where my order is")
    assert rendered is not None, (name, channel, language)
    return rendered


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_english_customers_get_todays_english_text_and_portuguese_ones_the_pt_br_text(name, channel):
    today = render(ENGLISH_ONLY, name, channel, None)
    for language in (None, "en"):
        assert render(RESPONSES, name, channel, language) == today
    portuguese = render(RESPONSES, name, channel, "pt")
    assert portuguese.get("condition") == PT_CONDITION
    assert portuguese.get("channel") == today.get("channel")
    assert portuguese["text"] != today["text"]


def test_portuguese_sms_texts_fit_one_gsm7_segment():
    sms = {name: v["text"] for name, variants in RESPONSES.items() for v in variants
           if variant_language(v) == "pt" and v.get("channel") == "sms"}
    assert sms and {name: sms_segments(text) for name, text in sms.items()} == {
        name: ("GSM-7", 1) for name in sms}


def test_portuguese_button_titles_fit_a_whatsapp_reply_button():
    titles = [v["text"] for name, variants in RESPONSES.items() if name.startswith(("utter_intent_label_", "utter_button_"))
              for v in variants if variant_language(v) == "pt"]
    assert titles and [t for t in titles if len(t) > BUTTON_TITLE_LIMIT] == []


def validator_for(responses: Dict[str, List[Dict[str, Any]]]):
    data = DOMAIN.as_dict()
    data["responses"] = responses
    return project_validator()(Domain.from_dict(data), TrainingData(), StoryGraph([]), None)


def without(name: str, channel: Optional[str]) -> Dict[str, List[Dict[str, Any]]]:
    """The real responses, less the pt variant of `name` for `channel`."""
    responses = copy.deepcopy(RESPONSES)
    responses[name] = [v for v in responses[name]
                       if not (variant_language(v) == "pt" and v.get("channel") == channel)]
    return responses


def test_the_real_domain_passes_the_language_check(recwarn):
    assert missing_translations(RESPONSES) == []
    assert validator_for(RESPONSES).verify_domain_validity() is True
    assert [str(w.message) for w in recwarn if "variant" in str(w.message)] == []


@pytest.mark.parametrize("channel, where", [(None, "without a channel"), ("sms", "for channel 'sms'")])
def test_a_response_missing_its_pt_variant_fails_validation(channel, where):
    with pytest.warns(UserWarning) as warned:
        assert validator_for(without("utter_delivery_time", channel)).verify_domain_validity() is False
    assert [str(w.message) for w in warned if "variant" in str(w.message)] == [
        f"The response 'utter_delivery_time' has no 'pt' variant {where} "
        f"(condition: [{{type: slot, name: language, value: pt}}])."]


def test_a_pt_variant_that_drops_a_placeholder_fails_validation():
    responses = copy.deepcopy(RESPONSES)
    [pt] = [v for v in responses["utter_got_order_number"] if variant_language(v) == "pt"]
    pt["text"] = "Obrigado, anotei o seu pedido."
    assert missing_translations(responses) == [
        "The 'pt' variant of 'utter_got_order_number' without a channel has the placeholders [], "
        "the English one ['order_id']."]


def test_button_payloads_must_match_the_english_ones():
    english = {"text": "Pick one", "buttons": [{"title": "Yes", "payload": "/affirm"}]}
    pt = {"text": "Escolha", "buttons": [{"title": "Sim", "payload": "/afirmar"}], "condition": PT_CONDITION}
    assert missing_translations({"utter_pick": [english, pt]}) == [
        "The 'pt' variant of 'utter_pick' without a channel has the button payloads ['/afirmar'], "
        "the English one ['/affirm']."]
    pt["buttons"][0]["payload"] = "/affirm"
    assert missing_translations({"utter_pick": [english, pt]}) == []
