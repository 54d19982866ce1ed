"""The options the bot last offered a customer, and what an answer to them means.

A payload (button, quick reply, postback, list choice) is the bot's own text and may be an
"/intent{…}" command, so it reaches Rasa only when it is one of the options of the customer's
current offer: the latest set the bot sent them, on any channel, not yet expired. Anything
else (a forged or replayed payload, a button of an older offer) is read as typed text.
Channels without native buttons show the options numbered; "2" (or, on email, the option's
words) chooses one, on the channel that showed the list.

Stored by `ChannelRecords.offer` / `current_offer` (connectors/webhook/records.py).
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

MAX_OPTION_NUMBER_DIGITS = 3  # int() of a long digit run is slow, and raises past 4300 digits


@dataclass(frozen=True)
class Option:
    title: str
    payload: str


@dataclass(frozen=True)
class Offer:
    channel: str  # where the options were shown
    numbered: bool  # shown as a numbered list (no native buttons)
    options: List[Option] = field(default_factory=list)

    @classmethod
    def of_buttons(cls, channel: str, buttons: List[Dict[str, Any]], *, numbered: bool) -> "Offer":
        """Rasa's buttons as sent: a button without a payload sends its title."""
        return cls(channel, numbered, [Option(str(b.get("title", "")), str(b.get("payload") or b.get("title", "")))
                                       for b in buttons])

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Offer":
        data = json.loads(raw)
        return cls(data["channel"], data["numbered"], [Option(**o) for o in data["options"]])

    def offers_payload(self, payload: str) -> bool:
        return any(option.payload == payload for option in self.options)

    def chosen(self, channel: str, answer: str, *, by_title: bool = False) -> Optional[str]:
        """The payload of the option `answer` names by its number ("2", "2.", "２") on the
        channel that showed the numbered list, or, with `by_title`, by its words."""
        first_line = answer.strip().split("\n", 1)[0]
        choice = unicodedata.normalize("NFKC", first_line).strip().rstrip(".)!").strip()
        if self.numbered and channel == self.channel and choice.isdecimal():
            if len(choice) > MAX_OPTION_NUMBER_DIGITS:
                return None
            index = int(choice) - 1
            return self.options[index].payload if 0 <= index < len(self.options) else None
        if by_title:
            wanted = choice.lower()
            return next((o.payload for o in self.options
                         if unicodedata.normalize("NFKC", o.title).strip().lower() == wanted), None)
        return None
