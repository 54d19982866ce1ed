"""The rule-based extractor, trained and loaded through Rasa's real model storage."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from threadline.nlu.catalogue import CatalogueError, load_catalogue
from threadline.nlu.structured_entities import StructuredEntityExtractor

CATALOGUE = """kind,name,aliases
product,Aurora Desk Lamp,aurora lamp|aurora
product,Drift Running Shoes,drift shoes
plan,Club Plus,plus plan
"""


def trained_then_loaded(tmp_path: Path, catalogue_text: str = CATALOGUE) -> StructuredEntityExtractor:
    catalogue = tmp_path / "products.csv"
    catalogue.write_text(catalogue_text)
    config = {**StructuredEntityExtractor.get_default_config(), "catalogue": str(catalogue)}
    (tmp_path / "model").mkdir()
    storage = LocalModelStorage(tmp_path / "model")
    resource = Resource("structured_entities")
    context = ExecutionContext(GraphSchema({}), "test")
    StructuredEntityExtractor.create(config, storage, resource, context).train(TrainingData())
    catalogue.unlink()  # a loaded model must not need the catalogue file any more
    return StructuredEntityExtractor.load(config, storage, resource, context)


@pytest.fixture(scope="module")
def extractor(tmp_path_factory) -> StructuredEntityExtractor:
    return trained_then_loaded(tmp_path_factory.mktemp("extractor"))


def found(extractor: StructuredEntityExtractor, text: str) -> List[Tuple[str, str, str]]:
    """(entity, the words in the text, normalised value) for each entity found."""
    return [(e["entity"], text[e["start"]:e["end"]], e["value"]) for e in extractor.extract(text)]


@pytest.mark.parametrize("text, expected", [
    ("where is TL-48213??", [("order_id", "TL-48213", "TL-48213")]),
    ("pedido tl48822 não chegou", [("order_id", "tl48822", "TL-48822")]),
    ("order #583920 please", [("order_id", "#583920", "583920")]),
    ("my order number is 5829134", [("order_id", "5829134", "5829134")]),
    ("order: 771203", [("order_id", "771203", "771203")]),
])
def test_order_numbers_in_the_shapes_customers_write(extractor, text, expected):
    assert found(extractor, text) == expected


# Issue #16: order numbers as Brazilian and English customers type them. A code with the shop's
# letters is given as the shop writes it; bare digits stay digits, for the order book to match
# against the customer's own orders (actions/orders.py).
@pytest.mark.parametrize("text, words, value", [
    ("tl48213", "tl48213", "TL-48213"),
    ("o TL48213", "TL48213", "TL-48213"),
    ("oi, cadê meu pedido TL-48213?", "TL-48213", "TL-48213"),
    ("#48213", "#48213", "48213"),
    ("pedido 48213", "48213", "48213"),
    ("meu pedido é 48213", "48213", "48213"),
    ("order 48213", "48213", "48213"),
    ("nº 48213", "48213", "48213"),
    ("pedido n° 48213", "48213", "48213"),
    ("pedido nº48213 nao chegou", "nº48213", "48213"),
    ("pedido #48213", "#48213", "48213"),
    ("a encomenda 48213 atrasou", "48213", "48213"),
    ("minha compra nº 48213", "48213", "48213"),
    ("número do pedido: 48213", "48213", "48213"),
    ("pedido n° 482913", "482913", "482913"),  # six digits after an order word: not a code
    ("No. 48213 hasn't arrived", "48213", "48213"),
])
def test_order_numbers_as_customers_type_them(extractor, text, words, value):
    assert found(extractor, text) == [("order_id", words, value)]


@pytest.mark.parametrize("text", [
    "48213",  # on its own: only an order number when the bot just asked for one
    "quero 48213 unidades",  # a quantity
    "paguei 48213 reais",  # an amount
    "moro no número 48213",  # a house number: "número" alone is no order word
    "chegou no 48213",  # "no" is Portuguese for "in the"; only "No." is an order word
])
def test_bare_digits_without_order_words_are_not_order_numbers(extractor, text):
    assert [e for e in found(extractor, text) if e[0] == "order_id"] == []


@pytest.mark.parametrize("text, words, value", [
    ("call me on +55 11 98765-4321 after 6", "+55 11 98765-4321", "+5511987654321"),
    ("my number is (415) 555-0134.", "(415) 555-0134", "4155550134"),
    ("whatsapp 5511987650000", "5511987650000", "5511987650000"),
    ("ring 020 7946 0958 tomorrow", "020 7946 0958", "02079460958"),
    ("tel: 11.98765.4321", "11.98765.4321", "11987654321"),
])
def test_phones_with_and_without_separators(extractor, text, words, value):
    # "tomorrow" is a date entity (tests/nlu/test_brazilian_entities.py): not this test's point.
    assert [f for f in found(extractor, text) if f[0] != "date"] == [("phone", words, value)]


def test_emails_are_found_and_lowercased(extractor):
    text = "send it to Ana.Souza@Gmail.com, thanks"
    assert found(extractor, text) == [("email", "Ana.Souza@Gmail.com", "ana.souza@gmail.com")]


@pytest.mark.parametrize("text", [
    "it costs R$ 1.299,90 in 10x",  # prices and instalments
    "delivered on 12/03/2025",  # dates
    "i want 20 chairs in size 42",  # quantities and sizes
    "the 30L backpack, model 2024",  # short codes and years
    "I need 12345 reasons",  # a bare number with no order word before it
])
def test_numbers_that_are_neither_phones_nor_orders(extractor, text):
    # The price is an amount and the date a date (tests/nlu/test_brazilian_entities.py).
    assert [f for f in found(extractor, text) if f[0] not in ("amount", "date")] == []


def test_catalogue_aliases_map_to_the_canonical_name_in_any_case(extractor):
    text = "is the AURORA LAMP cheaper than the drift shoes? and the plus plan?"
    assert found(extractor, text) == [
        ("product", "AURORA LAMP", "Aurora Desk Lamp"),
        ("product", "drift shoes", "Drift Running Shoes"),
        ("plan", "plus plan", "Club Plus"),
    ]


def test_a_product_added_to_the_catalogue_is_recognised_after_training(tmp_path):
    extractor = trained_then_loaded(tmp_path, CATALOGUE + "product,Nova Kettle,kettle nova\n")
    assert found(extractor, "do you have the kettle nova?") == [
        ("product", "kettle nova", "Nova Kettle")
    ]


def test_replaces_the_learned_entity_on_the_same_words_and_keeps_the_others(extractor):
    text = "order TL-48213 and two aurora lamps"
    diet: List[Dict] = [
        {"entity": "order_id", "start": 6, "end": 14, "value": "TL-48213", "extractor": "DIETClassifier"},
        {"entity": "quantity", "start": 19, "end": 22, "value": "two", "extractor": "DIETClassifier"},
    ]
    message = Message({"text": text, "entities": diet})
    extractor.process([message])
    entities = sorted((e["entity"], e["extractor"]) for e in message.get("entities"))
    assert entities == [
        ("order_id", "StructuredEntityExtractor"),
        ("product", "StructuredEntityExtractor"),
        ("quantity", "DIETClassifier"),
    ]


@pytest.mark.parametrize("text, error", [
    ("kind,name\nproduct,Lamp\n", "header"),
    ("kind,name,aliases\nservice,Repair,\n", "kind must be"),
    ("kind,name,aliases\nproduct,Lamp,lamp\nproduct,Desk Lamp,lamp\n", "already means"),
])
def test_catalogue_mistakes_are_reported_with_the_line(tmp_path, text, error):
    path = tmp_path / "products.csv"
    path.write_text(text)
    with pytest.raises(CatalogueError, match=error):
        load_catalogue(path)


def test_the_project_catalogue_loads():
    entries = load_catalogue(Path("data/catalogue/products.csv"))
    assert {e.kind for e in entries} == {"product", "plan"}


@pytest.mark.parametrize("text, expected", [
    ("482913", [("verification_code", "482913", "482913")]),
    ("my code is 075216", [("verification_code", "075216", "075216")]),
    ("the code from the email is 827043", [("verification_code", "827043", "827043")]),
    # After an order word, six digits are still an order number.
    ("order 482913", [("order_id", "482913", "482913")]),
    ("my order number is 582913", [("order_id", "582913", "582913")]),
    ("pedido 123456", [("order_id", "123456", "123456")]),
    ("12345", []),
    ("1234567", []),
])
def test_six_digit_one_time_codes_apart_from_order_numbers(extractor, text, expected):
    assert found(extractor, text) == expected
