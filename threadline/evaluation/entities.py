"""Entity F1 per language and per entity, on held-out messages, counted as the bot receives them.

Each held-out message has the entities its annotation marks (gold) and the entities the
parse gave (found). Two figures per entity, each with precision, recall, F1 and support:

- **exact**: a found entity counts when its type, its character span and its value are those
  of a gold entity. The gold value is the annotation written the way the bot receives that
  entity: StructuredEntityExtractor's normal form of the annotated words, read in their
  message, else alone (order code "tl48213" → "TL-48213", phone → "+5511987654321", email
  lower case, product → the catalogue's name, date → the ISO date of the day the message was
  parsed, cep → "01310-100"), or the words themselves when the rules make nothing of them (a
  quantity, "last month"). The found value is never normalised here: a learned extractor's
  "sexta" is not the date the bot needs.
- **value**: type and value only, wherever the words are ("dia 15" annotated, "15" found: the
  bot got the right date). Counted per message as a multiset.

Support below MIN_SUPPORT is reported as too few to measure, not hidden: the figure is
there, with a note that one miss moves it by several points.

Scored twice on the same messages: the bot's entities (the whole pipeline's parse, learned and
rule extractors merged as the running bot merges them) and StructuredEntityExtractor's alone
(the rules need no training, but they are scored on the folds' held-out parts all the same).

`EntityScoring` collects messages; `scores()` gives JSON-ready figures per language and entity
(plus every language together, "all"), and `markdown_table` the designers' table. It parses
nothing itself: threadline/evaluation/cross_validation.py feeds it the folds' parses.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

# The entities issue #16 asks to measure; reported even when no message of a language has one.
REQUIRED_ENTITIES = ("order_id", "email", "phone", "cep", "cpf", "date")
# With fewer gold entities than this, one miss moves recall by more than 5 points.
MIN_SUPPORT = 20
ALL_LANGUAGES = "all"
# Examples of mistakes kept per language and entity, for a designer to read (training data).
MISTAKES_KEPT = 5


@dataclass(frozen=True)
class Mention:
    entity: str
    start: int
    end: int
    value: str


def found_mentions(parsed: Mapping[str, Any]) -> List[Mention]:
    """The entities of a Rasa parse result, with the values the bot receives."""
    return [Mention(e["entity"], int(e["start"]), int(e["end"]), str(e.get("value")))
            for e in parsed.get("entities") or [] if "start" in e and "end" in e]


class GoldValues:
    """The value the bot should receive for annotated words: what the rule extractor makes of
    exactly those words in their message (a bare "30140071" is a CEP only after "cep"), else of
    the words alone ("tl48213" alone is still TL-48213); the words themselves when the rules
    make nothing of them (a quantity, "last month", "christmas")."""

    def __init__(self, rules: Any) -> None:
        self._rules = rules  # a StructuredEntityExtractor (or anything with its `extract`)

    def mentions(self, text: str, annotations: Iterable[Mapping[str, Any]], today: date
                 ) -> List[Mention]:
        in_message = {(e["entity"], e["start"], e["end"]): str(e["value"])
                      for e in self._rules.extract(text, today=today)}
        gold = []
        for annotation in annotations:
            entity, start, end = annotation["entity"], int(annotation["start"]), int(annotation["end"])
            value = in_message.get((entity, start, end)) or self.value(entity, text[start:end], today)
            gold.append(Mention(entity, start, end, value))
        return gold

    def value(self, entity: str, words: str, today: date) -> str:
        """The value of the one such entity the rules find in `words` alone (the annotation
        "on monday" or "my birthday on the 20th" holds one date), else `words`."""
        inside = [e for e in self._rules.extract(words, today=today) if e["entity"] == entity]
        return str(inside[0]["value"]) if len(inside) == 1 else words


@dataclass
class Counts:
    support: int = 0  # gold entities
    predicted: int = 0  # found entities
    exact: int = 0  # found with the gold span and value
    value: int = 0  # found with the gold value, anywhere in the message


@dataclass(frozen=True)
class Figures:
    support: int
    predicted: int
    exact_precision: Optional[float]
    exact_recall: Optional[float]
    exact_f1: Optional[float]
    value_precision: Optional[float]
    value_recall: Optional[float]
    value_f1: Optional[float]
    measurable: bool
    note: str


def _ratio(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 3) if whole else None


def _f1(matched: int, support: int, predicted: int) -> Optional[float]:
    if not support and not predicted:
        return None
    return round(2 * matched / (support + predicted), 3)


def figures_of(counts: Counts) -> Figures:
    if not counts.support:
        note = ("no annotated examples: cannot be measured"
                + (f"; {counts.predicted} found where none is annotated" if counts.predicted else ""))
    elif counts.support < MIN_SUPPORT:
        note = f"too few to measure: {counts.support} annotated (< {MIN_SUPPORT})"
    else:
        note = ""
    return Figures(
        support=counts.support, predicted=counts.predicted,
        exact_precision=_ratio(counts.exact, counts.predicted),
        exact_recall=_ratio(counts.exact, counts.support),
        exact_f1=_f1(counts.exact, counts.support, counts.predicted) if counts.support else None,
        value_precision=_ratio(counts.value, counts.predicted),
        value_recall=_ratio(counts.value, counts.support),
        value_f1=_f1(counts.value, counts.support, counts.predicted) if counts.support else None,
        measurable=counts.support >= MIN_SUPPORT, note=note)


@dataclass
class EntityTally:
    """Gold and found entities of held-out messages, by language and entity."""
    counts: Dict[str, Dict[str, Counts]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Counts)))
    mistakes: Dict[str, Dict[str, List[Dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    messages: Counter = field(default_factory=Counter)

    def add(self, language: str, text: str, gold: Sequence[Mention], found: Sequence[Mention]
            ) -> None:
        self.messages[language] += 1
        exact = set(gold) & set(found)
        gold_values = Counter((m.entity, m.value) for m in gold)
        found_values = Counter((m.entity, m.value) for m in found)
        value_matches = gold_values & found_values
        for scope in (language, ALL_LANGUAGES):
            table = self.counts[scope]
            for mention in gold:
                table[mention.entity].support += 1
            for mention in found:
                table[mention.entity].predicted += 1
            for mention in exact:
                table[mention.entity].exact += 1
            for (entity, _), matched in value_matches.items():
                table[entity].value += matched
        for mention in set(gold) ^ set(found):
            kept = self.mistakes[language][mention.entity]
            if len(kept) < MISTAKES_KEPT:
                kept.append({"text": text, "missed" if mention in gold else "spurious":
                             text[mention.start:mention.end], "value": mention.value})

    def entities(self) -> List[str]:
        seen = {entity for table in self.counts.values() for entity in table}
        return list(REQUIRED_ENTITIES) + sorted(seen - set(REQUIRED_ENTITIES))

    def languages(self) -> List[str]:
        return sorted(self.messages) + [ALL_LANGUAGES]

    def scores(self) -> Dict[str, Any]:
        """{"messages": {lang: n}, "by_language": {lang: {entity: Figures as dict}}, "mistakes"}."""
        by_language = {
            language: {entity: asdict(figures_of(self.counts[language].get(entity, Counts())))
                       for entity in self.entities()}
            for language in self.languages()}
        return {"messages": dict(sorted(self.messages.items())), "min_support": MIN_SUPPORT,
                "by_language": by_language,
                "mistakes": {lang: {e: list(m) for e, m in sorted(table.items())}
                             for lang, table in sorted(self.mistakes.items())}}


class EntityScoring:
    """The bot's entities (the whole pipeline's parse) and, on the same held-out messages, those
    of the rule extractor alone: which entities the rules carry and which the learned one adds."""

    def __init__(self, rules: Any) -> None:
        self._rules = rules
        self._gold = GoldValues(rules)
        self.bot = EntityTally()
        self.rules_alone = EntityTally()

    def record(self, language: str, text: str, annotations: Iterable[Mapping[str, Any]],
               parsed: Mapping[str, Any], today: date) -> None:
        gold = self._gold.mentions(text, annotations, today)
        self.bot.add(language, text, gold, found_mentions(parsed))
        self.rules_alone.add(language, text, gold,
                             found_mentions({"entities": self._rules.extract(text, today=today)}))

    def scores(self) -> Dict[str, Any]:
        return {"bot": self.bot.scores(), "rules_alone": self.rules_alone.scores()}


def _cell(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown_table(scores: Mapping[str, Any], languages: Optional[Sequence[str]] = None) -> str:
    """One row per entity and language: support, found, exact and value precision/recall/F1."""
    header = ["entity", "language", "support", "found", "exact P", "exact R", "exact F1",
              "value P", "value R", "value F1", "note"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_language = scores["by_language"]
    # A language with nothing annotated and nothing found (the few Spanish examples) is noise.
    chosen = [lang for lang in (languages or list(by_language)) if lang in by_language
              and any(f["support"] or f["predicted"] for f in by_language[lang].values())]
    entities = list(next(iter(by_language.values()))) if by_language else []
    for entity in entities:
        for language in chosen:
            f = by_language[language][entity]
            rows.append("| " + " | ".join([
                entity, language, str(f["support"]), str(f["predicted"]),
                _cell(f["exact_precision"]), _cell(f["exact_recall"]), _cell(f["exact_f1"]),
                _cell(f["value_precision"]), _cell(f["value_recall"]), _cell(f["value_f1"]),
                f["note"]]) + " |")
    return "\n".join(rows)
