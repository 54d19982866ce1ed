"""The conversation corpus: multi-turn conversations written as a customer talks, each turn
with what must and must not happen (never the exact wording).

A file in tests/conversations/ holds `conversations:`, a list of:

    - name: late-order-then-thanks        # unique in the corpus, names the pytest test
      language: en                         # en | pt: the language the customer writes in
      channel: whatsapp                    # the first message's channel (default whatsapp)
      about: where is my order, then thanks  # optional, for people reading the results
      known_bug: the offer is repeated (#15)  # optional: a failure we know of, not yet fixed
      turns:
        - say: where is my order TL-48213?
          expect:
            intent: order_status            # or a list of acceptable intents
            says: ["TL-48213"]              # regexes (case-insensitive) that must all appear
            not_says: ["order number"]      # regexes none of which may appear
            slots: {order_id: TL-48213}     # slot values after the turn (null: must be unset)
            asks: none                      # the form question asked: a slot name, or none
            handoff: false                  # whether the bot hands over to a person now
        - say: thanks!
          channel: sms                      # channels may change; it sticks until changed
          closer: true                      # a thanks/bye/never mind: no form question after it

Channels: whatsapp, sms (the same phone: one customer, as the product joins them) and
instagram (linked to that phone's customer before the conversation, as a verified claim would).
The automatic checks every bot message gets are in tests/conversations/checks.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

FOLDER = Path(__file__).resolve().parent
CHANNELS = ("whatsapp", "sms", "instagram")
LANGUAGES = ("en", "pt")
NO_QUESTION = "none"

CONVERSATION_KEYS = {"name", "language", "channel", "about", "turns", "known_bug"}
TURN_KEYS = {"say", "channel", "closer", "expect"}
EXPECT_KEYS = {"intent", "says", "not_says", "slots", "asks", "handoff"}


class CorpusError(ValueError):
    """A conversation file that does not follow the format: names the file and the place."""


@dataclass(frozen=True)
class Expectation:
    intents: Tuple[str, ...] = ()
    says: Tuple[str, ...] = ()
    not_says: Tuple[str, ...] = ()
    slots: Dict[str, Optional[str]] = field(default_factory=dict)
    asks: Optional[str] = None  # a slot name, NO_QUESTION, or None (not stated)
    handoff: Optional[bool] = None


@dataclass(frozen=True)
class Turn:
    text: str
    channel: str
    closer: bool
    expect: Expectation


@dataclass(frozen=True)
class Conversation:
    name: str
    language: str
    about: str
    turns: Tuple[Turn, ...]
    source: str  # the file it was read from, relative to the corpus folder
    # A failure the team knows of and has not fixed yet: the test is an expected failure, and
    # fails as soon as the conversation passes, so the note is removed with the fix.
    known_bug: Optional[str] = None

    @property
    def channels(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys(turn.channel for turn in self.turns))


def _strings(value: Any, where: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
        raise CorpusError(f"{where}: expected a string or a list of strings, got {value!r}")
    return tuple(items)


def _unknown_keys(data: Dict[str, Any], allowed: set, where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CorpusError(f"{where}: unknown keys {unknown} (allowed: {sorted(allowed)})")


def _expectation(data: Any, where: str) -> Expectation:
    if data is None:
        return Expectation()
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: expect must be a mapping")
    _unknown_keys(data, EXPECT_KEYS, where)
    slots = data.get("slots") or {}
    if not isinstance(slots, dict):
        raise CorpusError(f"{where}: slots must be a mapping of slot name to value")
    handoff = data.get("handoff")
    if handoff is not None and not isinstance(handoff, bool):
        raise CorpusError(f"{where}: handoff must be true or false")
    asks = data.get("asks")
    if asks is not None and not isinstance(asks, str):
        raise CorpusError(f"{where}: asks must be a slot name or '{NO_QUESTION}'")
    return Expectation(
        intents=_strings(data.get("intent"), f"{where}.intent"),
        says=_strings(data.get("says"), f"{where}.says"),
        not_says=_strings(data.get("not_says"), f"{where}.not_says"),
        slots={str(k): (None if v is None else str(v)) for k, v in slots.items()},
        asks=asks,
        handoff=handoff,
    )


def _conversation(data: Any, source: str, index: int) -> Conversation:
    where = f"{source} conversation {index + 1}"
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: expected a mapping")
    _unknown_keys(data, CONVERSATION_KEYS, where)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise CorpusError(f"{where}: a name is required")
    where = f"{source} {name}"
    language = data.get("language")
    if language not in LANGUAGES:
        raise CorpusError(f"{where}: language must be one of {LANGUAGES}")
    channel = data.get("channel", "whatsapp")
    raw_turns = data.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise CorpusError(f"{where}: turns must be a non-empty list")
    turns: List[Turn] = []
    for number, raw in enumerate(raw_turns, 1):
        place = f"{where} turn {number}"
        if not isinstance(raw, dict):
            raise CorpusError(f"{place}: expected a mapping")
        _unknown_keys(raw, TURN_KEYS, place)
        channel = raw.get("channel", channel)
        if channel not in CHANNELS:
            raise CorpusError(f"{place}: channel must be one of {CHANNELS}")
        text = raw.get("say")
        if not isinstance(text, str) or not text.strip():
            raise CorpusError(f"{place}: say must be the customer's message, as text (quote yes, no, numbers)")
        turns.append(Turn(text=text, channel=channel, closer=bool(raw.get("closer", False)),
                          expect=_expectation(raw.get("expect"), place)))
    return Conversation(name=name, language=language, about=str(data.get("about") or ""),
                        turns=tuple(turns), source=source, known_bug=data.get("known_bug") or None)


def load_file(path: Path) -> List[Conversation]:
    source = path.name
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or set(data) != {"conversations"}:
        raise CorpusError(f"{source}: the file must hold one key, conversations")
    return [_conversation(item, source, index) for index, item in enumerate(data["conversations"] or [])]


def load_corpus(folder: Path = FOLDER) -> List[Conversation]:
    """Every conversation of the folder's *.yml files, in file and then written order."""
    conversations = [c for path in sorted(folder.glob("*.yml")) for c in load_file(path)]
    seen: Dict[str, str] = {}
    for conversation in conversations:
        if conversation.name in seen:
            raise CorpusError(f"{conversation.source}: name {conversation.name!r} is also in {seen[conversation.name]}")
        seen[conversation.name] = conversation.source
    return conversations
