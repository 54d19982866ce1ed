"""What every bot message of the corpus is checked for, and each turn's stated expectations.

Pure functions over what a conversation produced (`ObservedTurn`: what the customer's phone
received during the turn, and what the tracker logged for it), so each check is tested on
its own (tests/conversations/test_checks.py) and the runner only has to observe.

Automatic checks, on every turn:
- leak: no `None`, `null`, braces, `%s`, `utter_`/`action_` names, or the name of an intent,
  slot, form, action or response of domain.yml, in any text or button the customer sees;
- form_question_after_closer: a thanks / bye / never mind (NLU intent thank or goodbye, or a
  turn the author marked `closer`) is never followed, in the same turn, by a form question;
- repeated_question: the bot never asks the question it asked in its previous turn again
  (word for word, or the same form question response), nor sends one message twice in a turn;
- no_answer: every customer message is answered (unless a person already has the conversation);
- wrong_channel: the answer goes to the channel the customer wrote from;
- wrong_language: once the customer has written a message whose language the project's
  detector can tell, a reply whose language it can tell is in the conversation's language (a
  first "TL-48213" or "483920" has none, and gets the shop's default language by design);
- slot_value: product and plan slots only ever hold catalogue names, order_id an order number,
  email an address (a city is never a product).
"""
from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import yaml

from tests.conversations.corpus import NO_QUESTION, Expectation, Turn

PROJECT = Path(__file__).resolve().parents[2]
CLOSING_INTENTS = frozenset({"thank", "goodbye"})
GENERIC_LEAKS = (
    (re.compile(r"\bNone\b"), "None"),
    (re.compile(r"\bnull\b", re.IGNORECASE), "null"),
    (re.compile(r"\bundefined\b|\bNaN\b"), "undefined/NaN"),
    (re.compile(r"[{}]"), "a brace"),
    (re.compile(r"%\(?\w*\)?[sd]\b"), "a %-placeholder"),
    (re.compile(r"\b(?:utter|action|validate)_\w+"), "an internal response or action name"),
)
ORDER_ID = re.compile(r"^(?:TL-\d{4,10}|\d{4,10})$")


@dataclass(frozen=True)
class BotMessage:
    channel: str
    text: str
    buttons: Tuple[str, ...] = ()

    def visible(self) -> str:
        return "\n".join((self.text, *self.buttons))


@dataclass
class ObservedTurn:
    turn: Turn
    finished: bool = False
    intent: Optional[str] = None
    messages: List[BotMessage] = field(default_factory=list)
    responses: List[str] = field(default_factory=list)  # the bot events' utter_action, in order
    actions: List[str] = field(default_factory=list)
    requested_slots: List[Optional[str]] = field(default_factory=list)  # requested_slot set in the turn
    handed_off: bool = False  # the bot paused for a person in this turn
    paused_before: bool = False  # a person already had the conversation
    slots: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    turn: int  # 1-based
    check: str
    detail: str
    bot_text: str

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Domain:
    """The names a customer must never see, and the questions forms ask."""

    internal_names: FrozenSet[str]
    form_slots: FrozenSet[str]
    products: FrozenSet[str]
    plans: FrozenSet[str]

    @property
    def form_questions(self) -> FrozenSet[str]:
        return frozenset(f"utter_ask_{slot}" for slot in self.form_slots)


@lru_cache(maxsize=1)
def project_domain() -> Domain:
    domain = yaml.safe_load((PROJECT / "domain.yml").read_text(encoding="utf-8"))
    names = set(domain.get("intents") or []) | set(domain.get("slots") or {}) | set(domain.get("forms") or {})
    names |= set(domain.get("actions") or []) | set(domain.get("responses") or {}) | {"requested_slot", "nlu_fallback"}
    form_slots = {slot for form in (domain.get("forms") or {}).values() for slot in form.get("required_slots") or []}
    with open(PROJECT / "data" / "catalogue" / "products.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # Names without an underscore ("greet", "product") are ordinary words in a reply.
    return Domain(internal_names=frozenset(n for n in names if "_" in n), form_slots=frozenset(form_slots),
                  products=frozenset(r["name"] for r in rows if r["kind"] == "product"),
                  plans=frozenset(r["name"] for r in rows if r["kind"] == "plan"))


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


SEGMENTS = re.compile(r"(?<=[.?!])\s+|\n+")
ASKING = re.compile(r"\?[^\w.!]*$")


def is_question(message: BotMessage) -> bool:
    """Options to choose from, or a text that opens or ends asking: "What's your order number?
    It starts with TL…" asks; "Standard: 3-7 days. Paid before 2 pm? It ships the same day."
    informs."""
    segments = [part for part in SEGMENTS.split(message.text.strip()) if part.strip()]
    return bool(message.buttons) or any(ASKING.search(part) for part in segments[:1] + segments[-1:])


def asked_slots(observed: ObservedTurn, domain: Domain) -> List[str]:
    """The slots a form asked for in this turn: its question response, or requested_slot set."""
    asked = [r[len("utter_ask_"):] for r in observed.responses if r in domain.form_questions]
    asked += [slot for slot in observed.requested_slots if slot]
    return list(dict.fromkeys(asked))


def leaks(text: str, domain: Domain) -> List[str]:
    found = [what for pattern, what in GENERIC_LEAKS if pattern.search(text)]
    words = set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", text))
    found += [f"internal name {name!r}" for name in sorted(words & domain.internal_names)]
    return found


def _texts(observed: ObservedTurn) -> str:
    return "\n".join(m.visible() for m in observed.messages)


LanguageOf = Callable[[str], Optional[str]]


def language_of(text: str) -> Optional[str]:
    """The project's own detector (lingua and the team's lexicon, catalogue names removed):
    None when a text is too short or mixed to tell."""
    from threadline.nlu.language import shared_detector

    return shared_detector().detect(text)


def check_turn(number: int, observed: ObservedTurn, previous: Optional[ObservedTurn],
               domain: Domain, language: Optional[str], detect: LanguageOf = language_of) -> List[Finding]:
    """The automatic checks and the turn's own expectations; `previous` is the bot's previous
    answered turn (None for the first), `language` the conversation's (None: the bot cannot
    know it yet)."""
    findings: List[Finding] = []
    turn = observed.turn
    everything = _texts(observed)

    def add(check: str, detail: str, text: str = everything) -> None:
        findings.append(Finding(number, check, detail, text))

    if not observed.finished:
        add("no_answer", "the turn never finished; its last events: " + ", ".join(observed.actions))
    elif not observed.messages and not observed.paused_before:
        add("no_answer", "the customer got no reply")
    for message in observed.messages:
        for leak in leaks(message.visible(), domain):
            add("leak", leak, message.visible())
        spoken = detect(message.visible()) if language else None
        if spoken in ("en", "pt") and spoken != language:
            add("wrong_language", f"a reply in {spoken}, the customer writes {language}", message.visible())
        if message.channel != turn.channel:
            add("wrong_channel", f"answered on {message.channel}, the customer wrote on {turn.channel}",
                message.visible())
    closing = turn.closer or observed.intent in CLOSING_INTENTS
    asked = asked_slots(observed, domain)
    if closing and asked:
        add("form_question_after_closer", f"asked for {', '.join(asked)} after a closer (intent {observed.intent})")
    findings += _repeats(number, observed, previous, domain)
    findings += _slot_values(number, observed, domain, everything)
    findings += _expectations(number, observed, turn.expect, asked, everything)
    return findings


def _repeats(number: int, observed: ObservedTurn, previous: Optional[ObservedTurn], domain: Domain) -> List[Finding]:
    findings = []
    seen = set()
    for message in observed.messages:
        key = _normalised(message.visible())
        if key in seen:
            findings.append(Finding(number, "repeated_question", "the same message twice in one turn", message.visible()))
        seen.add(key)
    if previous is None:
        return findings
    asked_before = {_normalised(m.visible()) for m in previous.messages if is_question(m)}
    again = [m.visible() for m in observed.messages if is_question(m) and _normalised(m.visible()) in asked_before]
    # The same form question by name, whatever its wording on this channel or in this language.
    same_form_question = set(observed.responses) & set(previous.responses) & domain.form_questions
    if again or same_form_question:
        findings.append(Finding(number, "repeated_question", "the question of the bot's previous turn, again: "
                                + ", ".join(sorted(same_form_question) or ["the same words"]),
                                "\n".join(again) or _texts(observed)))
    return findings


def _slot_values(number: int, observed: ObservedTurn, domain: Domain, text: str) -> List[Finding]:
    rules = (("product", lambda v: v in domain.products, "not a catalogue product"),
             ("plan", lambda v: v in domain.plans, "not a catalogue plan"),
             ("order_id", lambda v: bool(ORDER_ID.match(v)), "not an order number"),
             ("email", lambda v: "@" in v, "not an email address"))
    findings = []
    for slot, valid, what in rules:
        value = observed.slots.get(slot)
        if value is not None and not valid(str(value)):
            findings.append(Finding(number, "slot_value", f"{slot} = {value!r}: {what}", text))
    return findings


def _expectations(number: int, observed: ObservedTurn, expect: Expectation, asked: Sequence[str],
                  text: str) -> List[Finding]:
    findings: List[Finding] = []

    def add(detail: str) -> None:
        findings.append(Finding(number, "expectation", detail, text))

    if expect.intents and observed.intent not in expect.intents:
        add(f"intent {observed.intent!r}, expected {' or '.join(expect.intents)}")
    for pattern in expect.says:
        if not re.search(pattern, text, re.IGNORECASE):
            add(f"says /{pattern}/: not in the reply")
    for pattern in expect.not_says:
        if re.search(pattern, text, re.IGNORECASE):
            add(f"must not say /{pattern}/")
    for slot, value in expect.slots.items():
        actual = observed.slots.get(slot)
        if (None if actual is None else str(actual)) != value:
            add(f"slot {slot} = {actual!r}, expected {value!r}")
    if expect.asks == NO_QUESTION and asked:
        add(f"asked for {', '.join(asked)}, expected no form question")
    elif expect.asks not in (None, NO_QUESTION) and expect.asks not in asked:
        add(f"expected the question for {expect.asks}, asked {', '.join(asked) or 'nothing'}")
    if expect.handoff is not None and observed.handed_off != expect.handoff:
        add("expected a handoff to a person" if expect.handoff else "handed over to a person unexpectedly")
    return findings


def check_conversation(observed: Iterable[ObservedTurn], language: str, domain: Optional[Domain] = None,
                       detect: LanguageOf = language_of) -> List[Finding]:
    domain = domain or project_domain()
    findings: List[Finding] = []
    previous: Optional[ObservedTurn] = None
    shown = False  # whether the customer has written anything in a language one can tell
    for number, turn in enumerate(observed, 1):
        shown = shown or detect(turn.turn.text) is not None
        findings += check_turn(number, turn, previous, domain, language if shown else None, detect)
        if turn.messages:
            previous = turn
    return findings
