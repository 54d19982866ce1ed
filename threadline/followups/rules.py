"""`data/followups.yml`: what the business wants done about each kind of stall (issue #18).

Read once at start and refused, naming the file and the line, when a kind is unknown, a key is
misspelt, a response is not in domain.yml, a duration cannot be read or a WhatsApp template has
no parameters. A rule file the worker half-understands would send the wrong message to a real
customer, so nothing is guessed. ruamel.yaml (Rasa's own YAML library) keeps the line numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Dict, FrozenSet, Mapping, Optional, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError


DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data" / "followups.yml"
DOMAIN_PATH = Path(__file__).resolve().parents[2] / "domain.yml"
KINDS = ("stalled_lead", "unanswered", "promise_due", "intent_without_order")
# Stages a lead can stall in: `new` is not worth chasing yet, won/lost are over.
STALL_STAGES = ("qualified", "proposal")
# What a message may be filled with (the finders put these in every item's context).
PARAMETERS = frozenset({"name", "product", "order_id", "promise", "due_date", "stage"})
_DURATION = re.compile(r"^(\d+)\s*(m|h|d)$")
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_TOP_KEYS = ("quiet_hours", "max_proactive_every_days", "kinds")
_RULE_KEYS = ("alert", "message", "after", "response", "whatsapp_template", "priority")


class RulesError(ValueError):
    """A rule the worker cannot follow; the message is `file:line: what is wrong`."""


@dataclass(frozen=True)
class Template:
    """An approved WhatsApp template: its name and the context fields filling {{1}}, {{2}}..."""

    name: str
    parameters: Tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    kind: str
    alert: bool
    message: bool
    # How long a thing must sit before it is followed up; per stage for stalled leads.
    after: Mapping[str, timedelta]
    response: Optional[str] = None
    whatsapp_template: Optional[Template] = None
    priority: int = 2  # in the console queue, like handoffs: 1 is the most urgent

    def wait(self, stage: str = "") -> Optional[timedelta]:
        return self.after.get(stage) if self.kind == "stalled_lead" else self.after.get("")


@dataclass(frozen=True)
class Rules:
    kinds: Mapping[str, Rule]
    quiet_start: time
    quiet_end: time
    max_proactive_every: timedelta
    source: str = field(default="")

    def responses(self) -> FrozenSet[str]:
        """The responses follow-ups send (their messages in the CRM timeline carry them)."""
        return frozenset(rule.response for rule in self.kinds.values() if rule.message and rule.response)

    def is_quiet(self, local: time) -> bool:
        """Quiet hours may cross midnight (21:00-08:00)."""
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end


def domain_responses(path: Path = DOMAIN_PATH) -> FrozenSet[str]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    return frozenset((data.get("responses") or {}).keys())


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: Any, key: Any, why: str) -> RulesError:
        line = "?"
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
        elif hasattr(node, "lc"):
            line = node.lc.line + 1
        return RulesError(f"{self.path}:{line}: {why}")

    def mapping(self, parent: Any, key: Any, allowed: Tuple[str, ...]) -> CommentedMap:
        value = parent[key]
        if not isinstance(value, CommentedMap):
            raise self.fail(parent, key, f"{key!r} must be a mapping")
        for child in value:
            if child not in allowed:
                raise self.fail(value, child, f"unknown key {child!r} (expected one of {', '.join(allowed)})")
        return value

    def duration(self, node: Any, key: Any) -> timedelta:
        match = _DURATION.match(str(node[key]).strip())
        if not match:
            raise self.fail(node, key, f"{key!r}: {node[key]!r} is not a duration like 30m, 4h or 3d")
        amount, unit = int(match.group(1)), match.group(2)
        return timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount) if unit == "h" \
            else timedelta(days=amount)


def load_rules(path: Path = DEFAULT_PATH, responses: Optional[FrozenSet[str]] = None) -> Rules:
    """The rules in `path`, checked against the responses of domain.yml; RulesError if wrong."""
    reader = _Reader(path)
    try:
        root = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as error:
        raise RulesError(f"{path}: cannot be read ({type(error).__name__})") from None
    if not isinstance(root, CommentedMap):
        raise RulesError(f"{path}:1: the rules file must be a mapping with {', '.join(_TOP_KEYS)}")
    responses = domain_responses() if responses is None else responses
    for key in root:
        if key not in _TOP_KEYS:
            raise reader.fail(root, key, f"unknown key {key!r} (expected one of {', '.join(_TOP_KEYS)})")
    for key in _TOP_KEYS:
        if key not in root:
            raise RulesError(f"{path}:1: {key!r} is missing")
    hours = _HOURS.match(str(root["quiet_hours"]).strip())
    if not hours or int(hours.group(1)) > 23 or int(hours.group(3)) > 23 \
            or int(hours.group(2)) > 59 or int(hours.group(4)) > 59:
        raise reader.fail(root, "quiet_hours", f"quiet_hours: {root['quiet_hours']!r} is not like 21:00-08:00")
    days = root["max_proactive_every_days"]
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise reader.fail(root, "max_proactive_every_days", "max_proactive_every_days must be a whole number of days")
    kinds_node = reader.mapping(root, "kinds", KINDS)
    kinds: Dict[str, Rule] = {}
    for kind in kinds_node:
        node = reader.mapping(kinds_node, kind, _RULE_KEYS)
        kinds[kind] = _rule(reader, kind, node, responses)
    return Rules(kinds=kinds, quiet_start=time(int(hours.group(1)), int(hours.group(2))),
                 quiet_end=time(int(hours.group(3)), int(hours.group(4))),
                 max_proactive_every=timedelta(days=days), source=str(path))


def _rule(reader: _Reader, kind: str, node: CommentedMap, responses: FrozenSet[str]) -> Rule:
    flags = {}
    for flag in ("alert", "message"):
        value = node.get(flag, False)
        if not isinstance(value, bool):
            raise reader.fail(node, flag, f"{kind}.{flag} must be true or false")
        flags[flag] = value
    if "after" not in node:
        raise reader.fail(node, None, f"{kind}: 'after' is missing (how long before following up)")
    after: Dict[str, timedelta] = {}
    if kind == "stalled_lead":
        stages = reader.mapping(node, "after", STALL_STAGES)
        after = {stage: reader.duration(stages, stage) for stage in stages}
    elif isinstance(node["after"], CommentedMap):
        raise reader.fail(node, "after", f"{kind}.after is one duration (per stage only for stalled_lead)")
    else:
        after[""] = reader.duration(node, "after")
    response = node.get("response")
    if flags["message"] and not response:
        raise reader.fail(node, "message", f"{kind}: message is true but no response is named")
    if response is not None and response not in responses:
        raise reader.fail(node, "response", f"{kind}.response: {response!r} is not a response in domain.yml")
    template = None
    if "whatsapp_template" in node:
        spec = reader.mapping(node, "whatsapp_template", ("name", "parameters"))
        if not str(spec.get("name") or "").strip():
            raise reader.fail(node, "whatsapp_template", f"{kind}.whatsapp_template has no name")
        parameters = spec.get("parameters")
        if not parameters or not isinstance(parameters, list):
            raise reader.fail(node, "whatsapp_template",
                              f"{kind}.whatsapp_template {spec['name']!r} has no parameters")
        for parameter in parameters:
            if parameter not in PARAMETERS:
                raise reader.fail(spec, "parameters", f"{kind}.whatsapp_template: unknown parameter {parameter!r} "
                                  f"(one of {', '.join(sorted(PARAMETERS))})")
        template = Template(str(spec["name"]).strip(), tuple(parameters))
    priority = node.get("priority", 2)
    if priority not in (1, 2, 3):
        raise reader.fail(node, "priority", f"{kind}.priority must be 1, 2 or 3")
    return Rule(kind=kind, alert=flags["alert"], message=flags["message"], after=after, response=response,
                whatsapp_template=template, priority=priority)
