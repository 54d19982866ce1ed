"""cpf, cep, amount and date from StructuredEntityExtractor (trained and loaded through Rasa's
model storage), what they beat where they overlap, and entity F1 per language on a small
team-written set (tests/nlu/br_entities_set.yml)."""
from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
import yaml
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from tests.nlu.test_structured_entities import trained_then_loaded
from threadline.nlu.structured_entities import StructuredEntityExtractor

TODAY = date(2026, 12, 1)  # a Tuesday
SET = Path(__file__).with_name("br_entities_set.yml")
F1_FLOOR = 0.95  # per entity and language, on SET


@pytest.fixture(scope="module")
def extractor(tmp_path_factory) -> StructuredEntityExtractor:
    return trained_then_loaded(tmp_path_factory.mktemp("extractor"))


def found(extractor: StructuredEntityExtractor, text: str) -> List[Tuple[str, str, str]]:
    return [(e["entity"], text[e["start"]:e["end"]], e["value"]) for e in extractor.extract(text, TODAY)]


@pytest.mark.parametrize("text, expected", [
    # The CPF format with valid check digits is a CPF, never a phone, and its value is the mask.
    ("meu cpf é 529.982.247-25", [("cpf", "529.982.247-25", "***.982.247-**")]),
    ("529.982.247-25", [("cpf", "529.982.247-25", "***.982.247-**")]),
    ("cpf 11144477735", [("cpf", "11144477735", "***.444.777-**")]),
    ("cpf ***.444.777-** ok", [("cpf", "***.444.777-**", "***.444.777-**")]),  # as NLU sees it
    ("12345678909", [("cpf", "12345678909", "***.456.789-**")]),
    # Phones with eleven digits stay phones.
    ("me liga 11987654321", [("phone", "11987654321", "11987654321")]),
    ("tel 12345678909", [("phone", "12345678909", "12345678909")]),
    ("tel: 11.98765.4321", [("phone", "11.98765.4321", "11987654321")]),
    ("529.982.247-26", [("phone", "529.982.247-26", "52998224726")]),  # wrong check digit, no "cpf"
    ("meu cpf 529.982.247-25 e meu cel (11) 98765-4321",
     [("cpf", "529.982.247-25", "***.982.247-**"), ("phone", "(11) 98765-4321", "11987654321")]),
])
def test_cpf_or_phone(extractor, text, expected):
    assert found(extractor, text) == expected


@pytest.mark.parametrize("text, words", [
    ("cep 01310-100", "01310-100"),
    ("meu cep é 01310100", "01310100"),
    ("CEP: 01310.100", "01310.100"),
    ("entrega no 01.310-100 pfv", "01.310-100"),
    ("mudei pra 01310-100, rua augusta", "01310-100"),
])
def test_ceps_are_normalised(extractor, text, words):
    assert found(extractor, text) == [("cep", words, "01310-100")]


def test_eight_bare_digits_without_cep_are_not_a_cep(extractor):
    assert [f for f in found(extractor, "o protocolo é 01310100") if f[0] == "cep"] == []


@pytest.mark.parametrize("text, words, value, currency", [
    ("paguei R$ 499,90", "R$ 499,90", "499.90", "BRL"),
    ("R$1.234,56 no pix", "R$1.234,56", "1234.56", "BRL"),
    ("foi 499,90 reais", "499,90 reais", "499.90", "BRL"),
    ("R$ 50", "R$ 50", "50.00", "BRL"),
    ("ta R$ 89.90 no site", "R$ 89.90", "89.90", "BRL"),  # a dot for decimals, as phones type it
    ("R$ 1.299", "R$ 1.299", "1299.00", "BRL"),  # three digits after the dot: thousands
    ("it was $49.99", "$49.99", "49.99", "USD"),
    ("$1,234.56 refund", "$1,234.56", "1234.56", "USD"),
    ("US$ 20 no cartão", "US$ 20", "20.00", "USD"),
    ("49.99 dollars", "49.99 dollars", "49.99", "USD"),
])
def test_amounts_with_their_currency(extractor, text, words, value, currency):
    [entity] = extractor.extract(text, TODAY)
    assert (entity["entity"], text[entity["start"]:entity["end"]], entity["value"]) == ("amount", words, value)
    assert entity["additional_info"] == {"currency": currency}


def test_dates_are_iso_days_relative_to_today(extractor):
    assert found(extractor, "pedido TL-48213 chega sexta que vem ou dia 15?") == [
        ("order_id", "TL-48213", "TL-48213"), ("date", "sexta que vem", "2026-12-04"), ("date", "dia 15", "2026-12-15")]
    assert found(extractor, "can it come tomorrow?") == [("date", "tomorrow", "2026-12-02")]


def test_the_rule_based_date_replaces_the_learned_one(extractor):
    """The CRF tags "friday" as a date with the word as its value; the bot gets the day."""
    learned = {"entity": "date", "start": 22, "end": 28, "value": "friday", "extractor": "CRFEntityExtractor"}
    message = Message({TEXT: "i want delivery on a friday please", ENTITIES: [learned]})
    [processed] = extractor.process([message])
    dates = [e for e in processed.get(ENTITIES) if e["entity"] == "date"]
    assert len(dates) == 1 and dates[0]["extractor"] == "StructuredEntityExtractor"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", dates[0]["value"])
    assert date.fromisoformat(dates[0]["value"]).weekday() == 4


# --- entity F1 per language on the team-written set ---------------------------------------------
_ANNOTATION = re.compile(r"\[(?P<words>[^\]]+)\]\((?P<entity>\w+)\)")
MEASURED = ("cpf", "cep", "date", "amount")


def annotated(line: str) -> Tuple[str, Set[Tuple[int, int, str]]]:
    """"chega [amanha](date)" → ("chega amanha", {(6, 12, "date")})."""
    text, spans, last = "", set(), 0
    for match in _ANNOTATION.finditer(line):
        text += line[last:match.start()]
        spans.add((len(text), len(text) + len(match.group("words")), match.group("entity")))
        text += match.group("words")
        last = match.end()
    return text + line[last:], spans


def f1_by_entity(extractor: StructuredEntityExtractor, lines: List[str]) -> Dict[str, float]:
    scores = {}
    pairs = [annotated(line) for line in lines]
    predicted = [{(e["start"], e["end"], e["entity"]) for e in extractor.extract(text, TODAY)} for text, _ in pairs]
    for entity in MEASURED:
        gold = [{s for s in spans if s[2] == entity} for _, spans in pairs]
        guess = [{s for s in p if s[2] == entity} for p in predicted]
        true = sum(len(g & p) for g, p in zip(gold, guess))
        precision = true / max(1, sum(map(len, guess)))
        recall = true / max(1, sum(map(len, gold)))
        scores[entity] = 2 * precision * recall / (precision + recall) if true else 0.0
    return scores


@pytest.mark.parametrize("language", ["pt", "en"])
def test_entity_f1_per_language_on_the_team_written_set(extractor, language):
    lines = yaml.safe_load(SET.read_text(encoding="utf-8"))[language]
    scores = f1_by_entity(extractor, lines)
    print(f"{language}: " + ", ".join(f"{entity} F1 {score:.3f}" for entity, score in scores.items()))
    assert all(score >= F1_FLOOR for score in scores.values()), scores


def test_a_long_message_full_of_entities_is_read_within_a_second(extractor):
    """20 kB, four times what the email channel hands NLU, with 1,600 entities: choosing among
    overlapping mentions must not be quadratic (it took 6.5 s when it was)."""
    text = "sexta que vem dia 15 R$ 10,00 cep 01310-100 cpf 529.982.247-25 " * 320
    started = time.perf_counter()
    entities = extractor.extract(text, TODAY)
    assert time.perf_counter() - started < 1.0
    assert len(entities) == 5 * 320
