"""Scores a trained NLU model's parses of a held-out set the way a customer meets them.

For each message the bot either acts on an intent (the pipeline's final intent) or asks the
customer to confirm (`nlu_fallback`: top confidence below the FallbackClassifier threshold, or
two intents too close). From that this module counts, overall, per language and per intent:

- accuracy: the intent the bot acts on, or offers first when it asks, is the right one;
- right-and-confident rate: the bot acts, on the right intent, without asking;
- fallback rate: the bot asks instead of acting;
- confident-and-wrong rate: the bot acts, on the wrong intent (the costly mistake);
- top-two rate: the right intent is among the two the classifier ranks highest, i.e. among
  what a two-button "did you mean" could offer.

It does no parsing itself, so it can be reused by reports; tests/nlu/test_heldout_unseen.py
feeds it Agent.parse_message results.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

import yaml

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_COMPONENT = "FallbackClassifier"


def fallback_threshold(config_path: Path) -> float:
    """The FallbackClassifier confidence threshold configured in config.yml."""
    config = yaml.safe_load(config_path.read_text())
    for component in config.get("pipeline", []):
        if component.get("name") == FALLBACK_COMPONENT:
            return float(component.get("threshold", 0.3))  # Rasa's own default
    raise ValueError(f"{config_path} has no {FALLBACK_COMPONENT}")


@dataclass(frozen=True)
class Outcome:
    """What happened to one held-out message."""

    truth: str
    language: str
    offered: List[str]  # the classifier's two best intents, best first (never nlu_fallback)
    acted_on: Optional[str]  # the intent the bot acts on; None when it asks (fallback)

    @property
    def right(self) -> bool:
        first = self.acted_on or (self.offered[0] if self.offered else None)
        return first == self.truth

    @property
    def fell_back(self) -> bool:
        return self.acted_on is None

    @property
    def confident_and_wrong(self) -> bool:
        return self.acted_on is not None and self.acted_on != self.truth

    @property
    def in_top_two(self) -> bool:
        return self.truth in self.offered


def outcome_of(truth: str, language: str, parsed: Mapping[str, Any], threshold: float) -> Outcome:
    """Turns one Rasa parse result into an Outcome."""
    ranking = [r for r in parsed.get("intent_ranking", []) if r["name"] != FALLBACK_INTENT]
    final = parsed["intent"]
    # A detector after the classifier (EscalationDetector) may re-label the message; the bot
    # then acts on that label, so it leads what is offered.
    offered: List[str] = []
    if final["name"] != FALLBACK_INTENT:
        offered.append(final["name"])
    for entry in ranking:
        if len(offered) == 2:
            break
        if entry["name"] not in offered:
            offered.append(entry["name"])
    unsure = final["name"] == FALLBACK_INTENT or float(final.get("confidence") or 0.0) < threshold
    return Outcome(truth=truth, language=language, offered=offered,
                   acted_on=None if unsure else final["name"])


@dataclass
class Figures:
    messages: int
    accuracy: float
    right_confident_rate: float
    fallback_rate: float
    confident_wrong_rate: float
    top_two_rate: float
    mistaken_for: Dict[str, int] = field(default_factory=dict)


def figures_of(outcomes: Iterable[Outcome]) -> Figures:
    items = list(outcomes)
    total = len(items) or 1
    mistaken = Counter(o.acted_on or f"{o.offered[0] if o.offered else '?'} (asked)"
                       for o in items if not o.right)
    return Figures(
        messages=len(items),
        accuracy=round(sum(o.right for o in items) / total, 3),
        right_confident_rate=round(sum(o.acted_on == o.truth for o in items) / total, 3),
        fallback_rate=round(sum(o.fell_back for o in items) / total, 3),
        confident_wrong_rate=round(sum(o.confident_and_wrong for o in items) / total, 3),
        top_two_rate=round(sum(o.in_top_two for o in items) / total, 3),
        mistaken_for=dict(mistaken.most_common()),
    )


def report(outcomes: List[Outcome], parse_seconds: List[float]) -> Dict[str, Any]:
    """Overall, per-language, per-intent and per-both figures, plus parse time; JSON-ready."""
    by_language: Dict[str, List[Outcome]] = defaultdict(list)
    by_intent: Dict[str, List[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_language[outcome.language].append(outcome)
        by_intent[outcome.truth].append(outcome)
    ordered = sorted(parse_seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0
    return {
        "overall": asdict(figures_of(outcomes)),
        "by_language": {lang: asdict(figures_of(items)) for lang, items in sorted(by_language.items())},
        "by_intent": {intent: asdict(figures_of(items)) for intent, items in sorted(by_intent.items())},
        "by_language_and_intent": {
            lang: {intent: asdict(figures_of(o for o in items if o.truth == intent))
                   for intent in sorted({o.truth for o in items})}
            for lang, items in sorted(by_language.items())},
        "parse_ms": {"median": round(1000 * statistics.median(ordered), 1) if ordered else 0.0,
                     "p95": round(1000 * p95, 1)},
    }
