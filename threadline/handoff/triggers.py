"""Why a message should go to a person even though the customer did not ask for one.

Two deterministic checks, configured in data/handoff_triggers.yml: a sensitive topic (legal
threat, fraud, chargeback, data deletion, self-harm: priority 1), and strongly negative
language (the sentiment scorer of `threadline.handoff.sentiment`, at or below a threshold).
Deterministic on purpose: the same message always escalates the same way, so the decision
can be tested, explained to a customer, and tuned by editing a list.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from threadline.handoff import sentiment
from threadline.settings import PROJECT_DIR

DEFAULT_FILE = PROJECT_DIR / "data" / "handoff_triggers.yml"


def fold(text: str) -> str:
    """Lower case, no accents, no apostrophes: "Não" and "nao", "don't" and "dont" match."""
    decomposed = unicodedata.normalize("NFKD", (text or "").lower().replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("'", "")


@dataclass(frozen=True)
class Escalation:
    reason: str  # sensitive_topic | negative_sentiment
    detail: str  # the topic, or the sentiment score

    def as_dict(self) -> Dict[str, str]:
        return {"reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class Triggers:
    topics: Tuple[Tuple[str, re.Pattern], ...]
    negative_threshold: float

    @classmethod
    def load(cls, path: Path = DEFAULT_FILE) -> "Triggers":
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        topics: Dict[str, List[str]] = config.get("sensitive_topics") or {}
        patterns = tuple(
            (topic, re.compile(r"\b(?:" + "|".join(
                r"\s+".join(map(re.escape, fold(str(p)).split())) for p in phrases) + r")\b"))
            for topic, phrases in topics.items() if phrases)
        threshold = float(config.get("strong_negative_threshold", sentiment.STRONG_NEGATIVE))
        return cls(patterns, threshold)

    def sensitive_topic(self, text: str) -> Optional[str]:
        folded = fold(text)
        return next((topic for topic, pattern in self.topics if pattern.search(folded)), None)

    def escalation(self, text: str) -> Optional[Escalation]:
        """The first trigger the message meets: a sensitive topic wins over the tone."""
        topic = self.sensitive_topic(text)
        if topic:
            return Escalation("sensitive_topic", topic)
        score = sentiment.score(text)
        if score <= self.negative_threshold:
            return Escalation("negative_sentiment", f"sentiment {score:+.2f}")
        return None
