"""Products and plans from the right place (issue #15): the catalogue decides what is a product.

- A `product` or `plan` entity fills its slot only when it names a catalogue entry
  (data/catalogue/products.csv, names and aliases, any case): a city or any other word a learned
  extractor took for a product ("Sao Paulo") is never one. A product entity that names a plan
  fills `plan`, and the other way round; a price or stock question about a plan fills both
  (the order book prices plans too).
- A new product question without a product name ("do you have the blue sneakers in size 42?")
  empties `product`, so the product asked about earlier is not silently reused; one that refers
  back ("how much is it?", "quanto custa?", "is that one in stock?") keeps it.
- Names that are not in the catalogue get the closest ones that are (`closest`), e.g. "pro plan"
  → the plans, "sneakers" → Drift Running Shoes.
`action_extract_catalogue_items` is the custom mapping of both slots (domain.yml), so it runs on
every message, before any rule or form.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Text

from babel.lists import format_list
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.rich import ask_a_person, buy, card, say_carousel
from threadline.i18n import N_, Texts
from threadline.nlu.catalogue import CatalogueEntry, load_catalogue

CATALOGUE_FILE = Path(__file__).resolve().parents[1] / "data" / "catalogue" / "products.csv"
SLOT_OF_KIND = {"product": "product", "plan": "plan"}
# Questions about a product that, without a product name, are about a new one unless they refer back.
PRODUCT_QUESTIONS = frozenset({"product_price", "product_availability"})
# Words that point back at the product just talked about.
REFERRING_WORDS = frozenset({
    "it", "its", "it's", "them", "they", "that", "this", "those", "these", "one", "ones", "same",
    "ele", "ela", "eles", "elas", "esse", "essa", "esses", "essas", "isso", "este", "esta", "isto",
    "dele", "dela", "deles", "delas", "mesmo", "mesma", "msm", "aquele", "aquela", "aquilo",
})
# Words of any product question, which name no product: a question of only these refers back
# ("quanto custa?", "and the price?").
QUESTION_WORDS = frozenset({
    "how", "much", "is", "are", "the", "a", "an", "do", "does", "you", "have", "has", "got", "what",
    "whats", "what's", "about", "and", "price", "prices", "cost", "costs", "in", "stock", "still",
    "available", "availability", "any", "left", "there", "please", "pls", "now", "again", "so",
    "quanto", "quanta", "custa", "custam", "sai", "fica", "e", "o", "a", "os", "as", "tem", "voces",
    "vcs", "vc", "preco", "precos", "valor", "qual", "quais", "estoque", "disponivel", "ainda", "em",
    "de", "do", "da", "ai", "entao", "pf", "por", "favor", "agora",
})
# Words that say the customer means a plan, whatever its name ("pro plan", "plano pro").
PLAN_WORDS = frozenset({"plan", "plans", "plano", "planos", "membership", "subscription", "assinatura", "club"})
# Words of catalogue names too common to tell entries apart.
GENERIC_WORDS = PLAN_WORDS | frozenset({"the", "and", "cover"})
# What Portuguese-speaking customers call the things the catalogue names in English.
PORTUGUESE_WORDS = {
    "tenis": "shoes", "sapato": "shoes", "luminaria": "lamp", "abajur": "lamp", "travesseiro": "pillow",
    "mochila": "backpack", "fone": "earbuds", "cadeira": "chair", "ventilador": "fan", "relogio": "watch",
    "edredom": "duvet", "garrafa": "bottle", "garrafinha": "bottle", "moedor": "grinder", "jaqueta": "jacket",
    "capa": "jacket", "cobertor": "blanket", "manta": "blanket", "caderno": "notebook",
}
SIMILAR_ENOUGH = 0.8
MAX_SUGGESTIONS = 3

WE_HAVE_PLANS = N_("We have {names}.")
KIND_LABELS = {"product": N_("Product"), "plan": N_("Monthly plan")}
CLOSEST_PRODUCTS = N_("I couldn't find that in our catalogue. The closest I have: {names}.")


@lru_cache(maxsize=1)
def catalogue() -> List[CatalogueEntry]:
    return load_catalogue(CATALOGUE_FILE)


def words_of(text: str) -> List[str]:
    """Lower-case words without accents ("Não" → "nao"), as customers type them on a phone."""
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return re.findall(r"[a-z0-9']+", plain)


def canonical(value: Any) -> Optional[CatalogueEntry]:
    """The catalogue entry a name or alias means (any case), or None."""
    key = " ".join(words_of(str(value or "")))
    for entry in catalogue():
        if key in (" ".join(words_of(phrase)) for phrase in entry.phrases()):
            return entry
    return None


def refers_back(text: str) -> bool:
    """Whether a product question is about the product already talked about."""
    words = words_of(text)
    return any(word in REFERRING_WORDS for word in words) or all(word in QUESTION_WORDS for word in words)


def speaks_of_plans(text: str) -> bool:
    return any(word in PLAN_WORDS for word in words_of(text))


def closest(text: str) -> List[CatalogueEntry]:
    """The catalogue entries closest to what the customer wrote: every plan when the message
    speaks of a plan, else the products sharing a word (or nearly: "sneaker", "snickers")."""
    if speaks_of_plans(text):
        return [entry for entry in catalogue() if entry.kind == "plan"]
    words = [PORTUGUESE_WORDS.get(word, word) for word in words_of(text) if len(word) > 2]
    scored = []
    for position, entry in enumerate(catalogue()):
        if entry.kind != "product":
            continue
        names = {w for phrase in entry.phrases() for w in words_of(phrase) if w not in GENERIC_WORDS and len(w) > 2}
        score = sum(any(difflib.SequenceMatcher(None, word, name).ratio() >= SIMILAR_ENOUGH for name in names)
                    for word in words if word not in QUESTION_WORDS)
        if score:
            scored.append((-score, position, entry))
    return [entry for _, _, entry in sorted(scored)[:MAX_SUGGESTIONS]]


def say_names(entries: Sequence[CatalogueEntry], texts: Texts) -> str:
    return format_list([entry.name for entry in entries], locale=texts.locale)


def suggest_closest(dispatcher: CollectingDispatcher, tracker: Tracker, texts: Texts) -> bool:
    """Tell the customer the closest real products or plans to what they wrote; False if none."""
    entries = closest((tracker.latest_message or {}).get("text") or "")
    if not entries:
        return False
    template = WE_HAVE_PLANS if all(entry.kind == "plan" for entry in entries) else CLOSEST_PRODUCTS
    text = texts.gettext(template).format(names=say_names(entries, texts))
    # On RCS the entries follow as a carousel, each with "Buy" and "Ask a person" (actions/rich.py).
    cards = [card(entry.name, texts.gettext(KIND_LABELS[entry.kind]), [buy(texts, entry.name), ask_a_person(texts)])
             for entry in entries]
    say_carousel(dispatcher, tracker, text, cards)
    return True


class ActionExtractCatalogueItems(Action):
    """The custom mapping of slots `product` and `plan` (see the module's docstring)."""

    def name(self) -> Text:
        return "action_extract_catalogue_items"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        message = tracker.latest_message or {}
        found: Dict[str, str] = {}
        for entity in message.get("entities") or []:
            if entity.get("entity") in SLOT_OF_KIND:
                entry = canonical(entity.get("value"))
                if entry is not None:
                    found.setdefault(SLOT_OF_KIND[entry.kind], entry.name)
        intent = (message.get("intent") or {}).get("name")
        if intent in PRODUCT_QUESTIONS and "plan" in found and "product" not in found:
            found["product"] = found["plan"]  # the price of a plan: the order book has plans too
        if ("product" not in found and intent in PRODUCT_QUESTIONS and tracker.get_slot("product")
                and not refers_back(message.get("text") or "")):
            return [SlotSet("product", None)]
        return [SlotSet(slot, value) for slot, value in found.items() if tracker.get_slot(slot) != value]
