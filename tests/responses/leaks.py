"""What a template leak looks like in a text a customer reads (issue #15): an absent value
printed as `None`/`null`, a placeholder or format syntax left in, or a name only the code
knows (an intent, slot, action, entity or response name: snake_case, `utter_`, an "/intent"
command). Names that are plain words ("email", "greet") cannot be told from words and are
not looked for; every internal name with an underscore is."""
from __future__ import annotations

import re
from typing import Iterable, List, Tuple

from rasa.shared.core.domain import Domain

PATTERNS: List[Tuple[str, re.Pattern]] = [
    ("an absent value", re.compile(r"\b(?:None|null|NULL|nan|NaN|undefined)\b")),
    ("a placeholder or brace", re.compile(r"[{}]")),
    ("printf syntax", re.compile(r"%\(|%[sd]\b")),
    ("a response name", re.compile(r"utter_")),
    ("an intent command", re.compile(r"(?:^|\s)/[a-z]+(?:_[a-z]+)*\b")),
    ("a snake_case identifier", re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")),
]


def internal_names(domain: Domain) -> set[str]:
    """The domain's names that no customer text should contain (those with an underscore)."""
    names = {*domain.intents, *domain.entities, *(slot.name for slot in domain.slots), *domain.user_actions,
             *domain.responses, *domain.form_names}
    return {name for name in names if "_" in name}


def leaks(text: str, names: Iterable[str] = ()) -> List[str]:
    """Each leak found in `text`, as "what: the matched text"; [] for a clean text."""
    found = [f"{what}: {match.group(0).strip()!r}" for what, pattern in PATTERNS for match in pattern.finditer(text)]
    found += [f"an internal name: {name!r}" for name in names if re.search(rf"\b{re.escape(name)}\b", text)]
    return found
