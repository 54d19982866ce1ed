"""Rule-based extraction of order numbers, emails, phones, products, plans, one-time codes, and
the Brazilian shapes of threadline/nlu/brazilian_entities.py (cpf, cep, amount, date).

These entities have a shape (an email, a phone) or a fixed list of values (the catalogue), so
rules on a blank spaCy pipeline find them more reliably than a learned model, and new
products work as soon as a designer adds a row to the catalogue. The learned extractor (CRF or
DIET) still learns them from the annotated examples and may catch what the rules miss; where
both find the same words, this component's entity replaces the learned one, so the bot never
sees a duplicate.

Put it after the learned entity extractor in config.yml:
    - name: threadline.nlu.structured_entities.StructuredEntityExtractor
      catalogue: data/catalogue/products.csv
"""
from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import spacy
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from threadline.nlu.brazilian_entities import Mention, find_brazilian_entities
from threadline.nlu.catalogue import CatalogueEntry, catalogue_digest, load_catalogue
from threadline.nlu.dates import business_today

CATALOGUE_FILE = "catalogue.json"

# Words after which a bare run of digits is an order number ("order 582913", "pedido nº 77120",
# "meu pedido é 48213", "encomenda 48213"). Not "número" on its own: in Portuguese it is as often
# a house or phone number ("moro no número 48213"); and "no" only as "No." ("no" is Portuguese
# for "in the"). Bare digits with none of these before them stay
# what else they may be (a quantity, a CEP, an amount, a phone), except right after the bot
# asked for the order number: actions/orders.py (`action_extract_order_number`) takes them then.
ORDER_CONTEXT_WORDS = [
    "order", "orders", "ord", "pedido", "pedidos", "encomenda", "encomendas", "compra", "compras",
    "purchase", "number", "nº", "n.º", "num", "ref", "reference", "id", "confirmation", "code",
]
# Marks between an order word and the digits: "order: 771203", "order #48213", "pedido n° 48213"
# (spaCy splits "n°" into "n" and "°", so "n" is the filler word and "°" the mark).
ORDER_NUMBER_MARKS = [":", "#", "-", "°", "º"]
# Shop order codes: two or three letters, optional hyphen, 4-10 digits (TL-48213, tl48822).
# Their value is the shop's spelling, letters upper case and a hyphen: TL-48822.
ORDER_CODE = r"^[A-Za-z]{2,3}-?\d{4,10}$"
ORDER_CODE_PARTS = re.compile(r"([A-Za-z]{2,3})-?(\d{4,10})")
# "nº48213" written as one word.
ORDER_NUMBER_SIGN = r"^[Nn][º°]\d{4,10}$"
# A phone: optional +, digits with spaces, dots, hyphens or parentheses between them.
PHONE_CANDIDATE = re.compile(r"(?<![\w@+])(?:\+\s?)?\(?\d[\d\s().-]{5,20}\d(?![\w@])")
PHONE_SEPARATED_MIN_DIGITS = 8  # "+55 11 98765-4321", "(415) 555-0134"
PHONE_BARE_MIN_DIGITS = 10  # "21987654321"; shorter bare runs are order numbers or amounts
PHONE_MAX_DIGITS = 15  # E.164
# One-time identity codes are 6 digits; after an order word ("order 482913") they are an order.
CODE_TOKEN = r"^\d{6}$"
ORDER_WORDS_BEFORE_CODE = set(ORDER_CONTEXT_WORDS) - {"code", "number", "num", "id", "ref"}


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True
)
class StructuredEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Finds order_id, email, phone, product and plan with spaCy rules and the catalogue."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"catalogue": "data/catalogue/products.csv"}

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        # Rasa's training hooks also call this for this node once it is restored from the
        # training cache, with the cache node's config (no `catalogue`): nothing to add then.
        catalogue = config.get("catalogue")
        return catalogue_digest(Path(catalogue)) if catalogue else None

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        catalogue: List[CatalogueEntry],
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._nlp = spacy.blank("en")
        self._matcher = self._shape_matcher()
        self._set_catalogue(catalogue)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "StructuredEntityExtractor":
        return cls(config, model_storage, resource, [])

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "StructuredEntityExtractor":
        with model_storage.read_from(resource) as directory:
            rows = json.loads((directory / CATALOGUE_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, [CatalogueEntry.from_dict(r) for r in rows])

    def train(self, training_data: TrainingData) -> Resource:
        """Copy the catalogue into the model, so a trained model never depends on data/."""
        catalogue = load_catalogue(Path(self._config["catalogue"]))
        with self._model_storage.write_to(self._resource) as directory:
            (directory / CATALOGUE_FILE).write_text(
                json.dumps([entry.to_dict() for entry in catalogue], indent=1), encoding="utf-8"
            )
        self._set_catalogue(catalogue)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            found = self.extract(text)
            kept = [e for e in message.get(ENTITIES, []) if not _overlaps_any(e, found)]
            message.set(ENTITIES, kept + self.add_extractor_name(found), add_to_output=True)
        return messages

    def extract(self, text: str, today: Optional[date] = None) -> List[Dict[str, Any]]:
        """The entities in `text`, longest match first where two candidates overlap, except that
        a Brazilian shape (cpf, cep, amount, date) beats whatever it overlaps: a CPF has the
        digits of a phone. Dates are resolved against `today` (default: the business's day)."""
        doc = self._nlp(text)
        brazilian = find_brazilian_entities(text, today or business_today())
        codes = self._code_spans(doc)
        taken = {(c.start, c.end) for c in codes}
        shapes = [s for s in self._shape_spans(doc) if (s.start, s.end) not in taken]
        spans = shapes + codes + self._phone_spans(doc) + self._catalogue_spans(doc)
        brazilian_chars = {i for mention in brazilian for i in range(mention.start, mention.end)}
        entities = [self._entity(span) for span in filter_spans(spans)
                    if not brazilian_chars.intersection(range(span.start_char, span.end_char))]
        entities += [_mention_entity(mention) for mention in brazilian]
        return sorted(entities, key=lambda e: e[ENTITY_ATTRIBUTE_START])

    def _set_catalogue(self, catalogue: List[CatalogueEntry]) -> None:
        self._canonical = {}
        self._phrases = PhraseMatcher(self._nlp.vocab, attr="LOWER")
        for entry in catalogue:
            for phrase in entry.phrases():
                self._canonical[phrase.lower()] = entry.name
            self._phrases.add(entry.kind, [self._nlp.make_doc(p) for p in entry.phrases()])

    def _shape_matcher(self) -> Matcher:
        matcher = Matcher(self._nlp.vocab)
        matcher.add("email", [[{"LIKE_EMAIL": True}]])
        digits = {"TEXT": {"REGEX": r"^\d{4,10}$"}}
        matcher.add("order_id", [
            [{"TEXT": {"REGEX": ORDER_CODE}}],
            [{"TEXT": {"REGEX": ORDER_NUMBER_SIGN}}],
            [{"ORTH": "#"}, digits],
        ])
        # Bare digits count only after an order word; the span is trimmed to the digits.
        context = {"LOWER": {"IN": ORDER_CONTEXT_WORDS}}
        filler = {"IS_ALPHA": True, "OP": "?"}
        bare = {"TEXT": {"REGEX": r"^\d{5,9}$"}}
        mark = {"ORTH": {"IN": ORDER_NUMBER_MARKS}}
        matcher.add("order_id_after_word", [
            [context, bare],
            [context, mark, bare],
            [context, filler, bare],
            [context, filler, mark, bare],
            [{"LOWER": "no"}, {"ORTH": "."}, bare],
        ])
        return matcher

    def _shape_spans(self, doc: Doc) -> List[Span]:
        spans = []
        for match_id, start, end in self._matcher(doc):
            label = self._nlp.vocab.strings[match_id]
            if label == "order_id_after_word":
                spans.append(Span(doc, end - 1, end, label="order_id"))
            else:
                spans.append(Span(doc, start, end, label=label))
        return spans

    def _code_spans(self, doc: Doc) -> List[Span]:
        """6-digit tokens not right after an order word ("code 482913", "482913")."""
        spans = []
        for token in doc:
            if not re.match(CODE_TOKEN, token.text):
                continue
            before = {t.lower_ for t in doc[max(0, token.i - 3):token.i]}
            if not before & ORDER_WORDS_BEFORE_CODE:
                spans.append(Span(doc, token.i, token.i + 1, label="verification_code"))
        return spans

    def _phone_spans(self, doc: Doc) -> List[Span]:
        spans = []
        for match in PHONE_CANDIDATE.finditer(doc.text):
            candidate = match.group().rstrip(" .-(")
            digits = sum(c.isdigit() for c in candidate)
            separated = not candidate.isdigit()
            minimum = PHONE_SEPARATED_MIN_DIGITS if separated else PHONE_BARE_MIN_DIGITS
            if not minimum <= digits <= PHONE_MAX_DIGITS:
                continue
            span = doc.char_span(match.start(), match.start() + len(candidate), label="phone")
            if span is not None:  # None: the match cuts a token in half, so it isn't a phone
                spans.append(span)
        return spans

    def _catalogue_spans(self, doc: Doc) -> List[Span]:
        return [
            Span(doc, start, end, label=self._nlp.vocab.strings[match_id])
            for match_id, start, end in self._phrases(doc)
        ]

    def _entity(self, span: Span) -> Dict[str, Any]:
        return {
            ENTITY_ATTRIBUTE_TYPE: span.label_,
            ENTITY_ATTRIBUTE_START: span.start_char,
            ENTITY_ATTRIBUTE_END: span.end_char,
            ENTITY_ATTRIBUTE_VALUE: self._normalise(span),
        }

    def _normalise(self, span: Span) -> str:
        text = span.text
        if span.label_ == "order_id":
            return order_number(text)
        if span.label_ == "email":
            return text.lower()
        if span.label_ == "phone":
            return ("+" if text.startswith("+") else "") + re.sub(r"\D", "", text)
        return self._canonical.get(text.lower(), text)


def order_number(text: str) -> str:
    """An order number as the shop writes it: "tl48213" → "TL-48213"; bare digits ("#48213",
    "nº48213") → "48213", for the order book to match against the customer's own orders."""
    code = ORDER_CODE_PARTS.fullmatch(text)
    if code:
        return f"{code.group(1).upper()}-{code.group(2)}"
    return re.sub(r"\D", "", text)


def _mention_entity(mention: Mention) -> Dict[str, Any]:
    entity = {
        ENTITY_ATTRIBUTE_TYPE: mention.entity,
        ENTITY_ATTRIBUTE_START: mention.start,
        ENTITY_ATTRIBUTE_END: mention.end,
        ENTITY_ATTRIBUTE_VALUE: mention.value,
    }
    if mention.additional_info:
        entity["additional_info"] = mention.additional_info
    return entity


def _overlaps_any(entity: Dict[str, Any], others: List[Dict[str, Any]]) -> bool:
    start, end = entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END]
    return any(
        start < other[ENTITY_ATTRIBUTE_END] and other[ENTITY_ATTRIBUTE_START] < end
        for other in others
    )
