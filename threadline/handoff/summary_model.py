"""What an agent reads first when a conversation is handed over (issue #9).

`HandoffSummary.to_dict()` is JSON-safe (stored with the handoff, served to the console,
printed by `bin/threadline handoffs --json`); `from_dict()` reads it back; `to_text()` is the
plain-text form for the CLI and notifications.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Dict, Optional, Tuple

from threadline.handoff.languages import ENGLISH_WORDS, Words
from threadline.handoff.rendering import channel_label, reason_label


@dataclass(frozen=True)
class QuotedMessage:
    """One customer message, word for word."""

    channel: Optional[str]
    text: str
    at: datetime

    @property
    def line(self) -> str:
        return self.line_in(ENGLISH_WORDS)

    def line_in(self, words: Words) -> str:
        """The customer's words as they wrote them; channel and moment in the reader's language."""
        return f"“{self.text}” ({words.channel(self.channel)}, {words.moment(self.at)})"


@dataclass(frozen=True)
class TimelineEntry:
    """What happened on one channel on one day, compactly."""

    day: date
    channel: Optional[str]
    text: str

    @property
    def line(self) -> str:
        return self.line_in(ENGLISH_WORDS)

    def line_in(self, words: Words) -> str:
        """`text` must be in `words`' language already (journey.timeline)."""
        return f"{words.day(self.day)}, {words.channel(self.channel)}: {self.text}"


@dataclass(frozen=True)
class OpenItem:
    """An order, opportunity, case or promise the agent should know about."""

    kind: str  # order | opportunity | case | promise
    ref: str  # order number, or the CRM id of the opportunity, case or promise
    text: str
    due: Optional[date] = None

    @property
    def line(self) -> str:
        return self.text


@dataclass(frozen=True)
class HandoffSummary:
    customer_id: str
    reason: str  # requested | complaint | negative_sentiment | not_understood | sales_ready | sensitive_topic
    paragraph: str  # at most ~80 words: who, what they want now, why a person is needed
    intent: Optional[str]  # the customer's current intent
    last_messages: Tuple[QuotedMessage, ...]
    timeline: Tuple[TimelineEntry, ...]
    open_items: Tuple[OpenItem, ...]
    bot_already: Tuple[str, ...]  # what the bot answered or tried, so the agent doesn't repeat it
    sentiment_trend: str  # e.g. "calm → angry"
    next_step: str
    channels: Tuple[str, ...] = ()  # every channel the customer used, first used first
    generated_by: str = "deterministic"  # or "llm" when the paragraph came from the LLM
    generated_at: datetime = field(default_factory=datetime.utcnow)
    # The same summary for agents who read another language ("pt": {"paragraph": …, "next_step": …,
    # "last_messages": [{"line": …}], …}): sentences translated, the customer quoted as they wrote.
    languages: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["last_messages"] = [dict(asdict(m), at=m.at.isoformat(), line=m.line) for m in self.last_messages]
        data["timeline"] = [dict(asdict(e), day=e.day.isoformat(), line=e.line) for e in self.timeline]
        data["open_items"] = [dict(asdict(i), due=i.due.isoformat() if i.due else None, line=i.line)
                              for i in self.open_items]
        data["bot_already"] = list(self.bot_already)
        data["channels"] = list(self.channels)
        data["generated_at"] = self.generated_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "HandoffSummary":
        def drop_line(item: Dict[str, Any]) -> Dict[str, Any]:
            return {k: v for k, v in item.items() if k != "line"}

        return cls(
            customer_id=data["customer_id"], reason=data["reason"], paragraph=data["paragraph"],
            intent=data.get("intent"),
            last_messages=tuple(QuotedMessage(**dict(drop_line(m), at=datetime.fromisoformat(m["at"])))
                                for m in data.get("last_messages", [])),
            timeline=tuple(TimelineEntry(**dict(drop_line(e), day=date.fromisoformat(e["day"])))
                           for e in data.get("timeline", [])),
            open_items=tuple(OpenItem(**dict(drop_line(i), due=date.fromisoformat(i["due"]) if i.get("due") else None))
                             for i in data.get("open_items", [])),
            bot_already=tuple(data.get("bot_already", [])), sentiment_trend=data["sentiment_trend"],
            next_step=data["next_step"], channels=tuple(data.get("channels", [])),
            generated_by=data.get("generated_by", "deterministic"),
            generated_at=datetime.fromisoformat(data["generated_at"]),
            languages=dict(data.get("languages") or {}),
        )

    def to_text(self) -> str:
        def section(title: str, lines: Tuple[str, ...]) -> list:
            return [f"{title}:"] + [f"  - {line}" for line in lines] if lines else [f"{title}: none"]

        lines = [f"Handoff for {self.customer_id}: {reason_label(self.reason)}", self.paragraph, "",
                 f"Intent: {self.intent or 'unknown'}", f"Sentiment: {self.sentiment_trend}",
                 f"Channels: {', '.join(channel_label(c) for c in self.channels) or 'none'}"]
        lines += section("Last messages", tuple(m.line for m in self.last_messages))
        lines += section("Timeline", tuple(e.line for e in self.timeline))
        lines += section("Open items", tuple(i.line for i in self.open_items))
        lines += section("The bot already", self.bot_already)
        lines.append(f"Suggested next step: {self.next_step}")
        return "\n".join(lines)
