"""Words and dates as agents read them; shared by the summary, the console and the CLI.

- `channel_label("whatsapp")` → "WhatsApp" (unknown channels are capitalised as given).
- `day_label(date(2026, 11, 20))` → "20 Nov"; `moment_label(datetime)` → "20 Nov 14:05" (UTC).
- `reason_label("complaint")` → "the customer complained" (why a person is needed).
- `shorten(text, 60)` → the text on one line, cut at a word with "…".
- `redact(text)` → emails, phone numbers and street addresses replaced by [email], [phone],
  [address], CPFs masked ("***.456.789-**"): for anything that leaves the system (LLM prompts,
  notifications) and the customer's words the summary quotes.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Optional

from threadline.privacy.cpf import mask_cpfs

CHANNEL_LABELS = {"whatsapp": "WhatsApp", "instagram": "Instagram", "sms": "SMS", "rcs": "RCS", "email": "Email",
                  "webchat": "Web chat", "rest": "Web chat", "console": "Console"}

REASONS = {
    "requested": "the customer asked for a person",
    "complaint": "the customer complained",
    "negative_sentiment": "the customer's messages turned strongly negative",
    "not_understood": "the bot failed to understand the customer twice in a row",
    "sales_ready": "a qualified lead is ready to buy",
    "sensitive_topic": "the conversation touches a sensitive topic",
}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 8+ digits with optional +, spaces, dots, dashes and parentheses: phones, not order numbers
# like TL-48213 (5 digits) or quantities.
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d(?:[\s().-]{0,2}\d){7,}(?!\w)")
_STREET = (r"(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|rua|r|avenida|av"
           r"|alameda|al|travessa|tv|estrada|rodovia|praca)")
_ADDRESS = re.compile(
    rf"\b\d{{1,5}}\s+(?:[A-Z][\w'-]*\s+){{1,4}}{_STREET}\b\.?"          # 221 Baker Street
    rf"|\b{_STREET}\.?\s+(?:[A-ZÀ-Ý][\w'-]*\s*){{1,5}},?\s*(?:n[º°o.]?\s*)?\d{{1,5}}\b",  # Rua Augusta, 1500
    re.IGNORECASE)


def channel_label(channel: Optional[str]) -> str:
    if not channel:
        return "Unknown channel"
    return CHANNEL_LABELS.get(channel.lower(), channel[:1].upper() + channel[1:])


def day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


def moment_label(moment: datetime) -> str:
    return f"{day_label(moment)} {moment:%H:%M}"


def reason_label(reason: str) -> str:
    if reason not in REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}; one of {', '.join(REASONS)}")
    return REASONS[reason]


def shorten(text: Optional[str], limit: int) -> str:
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if flat[limit - 1].isalnum():  # mid-word: drop the broken word
        cut = cut.rsplit(" ", 1)[0] or cut
    return cut.rstrip(",;:.") + "…"


def redact(text: Optional[str]) -> str:
    # CPFs first: "123.456.789-09" has a phone's eleven digits.
    text = _EMAIL.sub("[email]", mask_cpfs(text or ""))
    text = _ADDRESS.sub("[address]", text)
    return _PHONE.sub("[phone]", text)
