"""Which language a customer message is written in: "en", "pt", "es", or None for none.

Two parts, measured on tests/language/ (bench/language_detection.py compares them):
- lingua (offline n-gram models shipped in its wheel), restricted to the languages we tell
  apart, decides sentences. Its confidence must clear a floor, so a name or a product code
  ("Carla Mendes", "iPhone 15") is no language rather than a coin toss.
- the team's chat lexicon (threadline.language.lexicon) decides short messages whose known
  words all agree (lingua reads "obg", "vlw" and "blz" as English or Spanish), and longer ones
  lingua is unsure of when two thirds of their known words, at least two, agree ("meu
  tracking nao atualiza").
Order numbers, emails, links, phone numbers, emoji, the catalogue's product and plan names and
place names (threadline.language.places) are removed first: "TL-48213", "👍" and "o Orbit
Smartwatch" carry no language, so the customer's current one is kept, "quanto ta a Trailhead
Backpack?" is Portuguese and "do you ship to Portugal?" English. A message of one word no list
knows needs lingua surer than a longer one (LONE_WORD_CONFIDENCE): "hmmm blorp" keeps the
customer's language.

Spanish is strict, Portuguese lenient (`iberian`): a Brazilian called Spanish is told we do
not speak their language, the costliest mistake, while a Spanish message called Portuguese is
answered in a language its writer mostly reads. lingua alone splits short Portuguese with
Spanish ("qual o status do pedido?" pt 0.56, es 0.40) or tips it over ("queremos comprar ...
pro escritorio novo" es 0.57), so words only one of the two languages has decide.

Measured on tests/language/detection_set.yml, first 400 messages (204 of three words or
fewer): lingua alone 0.805 accuracy (0.647 short); lingua + lexicon 0.943 (0.897 short),
1.3 % wrong switches, 1 of 170 Portuguese messages read as Spanish and 3 as English; with the
names and the Spanish rule 0.948 (0.902 short), 1.0 %, none read as Spanish, 3 as English.
On the 53 messages added with those fixes (names, short questions, Spanish near-misses):
0.755 before, 0.962 after. Place names and the lone-word floor (issue #16), on all 453:
accuracy 0.949 before and after (0.907 -> 0.902 short), wrong switches 0.9 % -> 0.4 %, `none`
0.971 -> 1.000, Portuguese read as English 3 -> 2; four messages changed, each now None: "mds"
(pt, was en) and "TL 51907" (none, was en) are right, "wtf" (en) and "fechado" (pt) are lost.
A character n-gram classifier trained on data/nlu split by language (en/pt, lingua kept for
Spanish) reached 0.970 on the first 400 but switched 2.8 % to a wrong language (names and
codes read as English): a missed language only keeps the current one, a wrong one answers the
customer in it, so lingua + lexicon it is.

Building loads lingua's models (about 1 s; threadline.nlu.language.shared_detector builds one
per process, with the catalogue's names);
`detect` then takes well under a millisecond on a chat message.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Tuple

from lingua import Language, LanguageDetectorBuilder

from threadline.language import lexicon
from threadline.language.places import place_names

# The languages told apart. The assistant speaks SPOKEN; any other one detected gets the
# "which languages we speak" answer.
LINGUA_LANGUAGES = {Language.ENGLISH: "en", Language.PORTUGUESE: "pt", Language.SPANISH: "es"}
SPOKEN = ("en", "pt")

SHORT_WORDS = 3  # up to this many words the lexicon may decide alone
# lingua's top confidence (its values sum to 1 over the three languages) must reach this.
MIN_CONFIDENCE = 0.6
# A message of one word no list knows ("blorp", "fechado") is thin evidence: lingua gives made-up
# words 0.6 to 0.7 ("blorp" pt 0.60), real ones mostly more ("perfeito" 0.88, "sorry" 0.97).
LONE_WORD_CONFIDENCE = 0.7
# Spanish with no word only Spanish has ("comprar mochila") needs lingua this sure.
CLEAR_SPANISH = 0.8

NOT_LANGUAGE = re.compile(
    r"https?://\S+|www\.\S+"  # links
    r"|\S+@\S+"  # emails
    r"|#?\b[a-z]{0,3}-?\d[\d\s.\-/()]*"  # order numbers, phones, CEPs, amounts
    r"|\+\d[\d\s.\-()]*",
    re.IGNORECASE,
)
FIRST_WORD = re.compile(r"\w+")  # how a name is looked up by its first word
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def words_of(text: str) -> List[str]:
    """The words that may carry a language, lower-cased."""
    return [word.lower() for word in WORD.findall(NOT_LANGUAGE.sub(" ", text))]


def majority(votes: Counter) -> Optional[str]:
    if not votes:
        return None
    language, count = votes.most_common(1)[0]
    return language if count >= 2 and count * 3 >= 2 * sum(votes.values()) else None


class Names:
    """Whole names ("Trailhead Backpack", "orbit watch", "Rio de Janeiro"), any case and spacing,
    to remove from a message. Hundreds of names in one alternation take ~0.4 ms a message, so
    only the names whose first word the message has are matched."""

    def __init__(self, names: Iterable[str]) -> None:
        self.by_first_word: Dict[str, List[str]] = {}
        for phrase in {" ".join(name.split()) for name in names if name.strip()}:
            first_word = FIRST_WORD.search(phrase.lower())  # "st" of "St. Lucia"
            if first_word:
                self.by_first_word.setdefault(first_word.group(), []).append(phrase)

    def remove(self, text: str) -> str:
        candidates = tuple(sorted({phrase for word in FIRST_WORD.findall(text.lower())
                                   for phrase in self.by_first_word.get(word, ())}))
        return names_pattern(candidates).sub(" ", text) if candidates else text


@lru_cache(maxsize=4096)
def names_pattern(phrases: Tuple[str, ...]) -> "re.Pattern[str]":
    """Longest first, so "Mato Grosso do Sul" is removed whole rather than "Mato Grosso"."""
    ordered = sorted(phrases, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(map(re.escape, phrase.split())) for phrase in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


class LanguageDetector:
    """`names`: phrases of no language (the catalogue's products and plans), removed first,
    with the place names (threadline.language.places)."""

    def __init__(self, use_lexicon: bool = True, min_confidence: float = MIN_CONFIDENCE,
                 names: Iterable[str] = ()) -> None:
        self.use_lexicon = use_lexicon
        self.min_confidence = min_confidence
        self.names = Names([*names, *place_names()])
        self.lingua = (LanguageDetectorBuilder.from_languages(*LINGUA_LANGUAGES)
                       .with_preloaded_language_models().build())

    def words_of(self, text: str) -> List[str]:
        return words_of(self.names.remove(text))

    def detect(self, text: str) -> Optional[str]:
        words = self.words_of(text)
        known = [lexicon.language_of_word(word) for word in words] if self.use_lexicon else []
        meaningful = [word for word, language in zip(words, known or [None] * len(words))
                      if language != "none"]
        if not meaningful:
            return None
        votes = Counter(language for language in known if language not in (None, "none"))
        if len(meaningful) <= SHORT_WORDS and len(votes) == 1:
            found, confidences = next(iter(votes)), {}
        else:
            confidences = self.confidences(" ".join(meaningful))
            best = max(confidences, key=confidences.__getitem__, default=None)
            lone_unknown_word = self.use_lexicon and len(meaningful) == 1 and not votes
            floor = LONE_WORD_CONFIDENCE if lone_unknown_word else self.min_confidence
            found = best if best and confidences[best] >= floor else majority(votes)
        if not self.use_lexicon:
            return found
        return self.iberian(found, confidences, *lexicon.iberian_marks(text, meaningful))

    def iberian(self, found: Optional[str], confidences: Dict[str, float], portuguese: int,
                spanish: int) -> Optional[str]:
        """Strict about Spanish, lenient about Portuguese. lingua splits a Portuguese message's
        confidence between the two ("qual o status do pedido?": pt 0.56, es 0.40) or tips it to
        Spanish ("queremos comprar ... pro escritorio novo"). Spanish needs more Spanish-only
        words than Portuguese-only ones, or, with neither, lingua's clear word; a message with a
        Portuguese-only word that lingua places in the pair is Portuguese."""
        iberian = confidences.get("pt", 0.0) + confidences.get("es", 0.0)
        if found == "es":
            if spanish > portuguese:
                return "es"
            if portuguese:
                return "pt"
            return "es" if confidences.get("es", 0.0) >= CLEAR_SPANISH else None
        if found is None and portuguese > spanish and iberian >= self.min_confidence:
            return "pt"
        return found

    def confidences(self, text: str) -> Dict[str, float]:
        """lingua's confidence per language (they sum to 1)."""
        return {LINGUA_LANGUAGES[c.language]: c.value
                for c in self.lingua.compute_language_confidence_values(text)}
