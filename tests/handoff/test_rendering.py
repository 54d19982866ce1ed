"""Rendering helpers the summary, the console and notifications share."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from threadline.handoff.rendering import channel_label, day_label, moment_label, reason_label, redact, shorten


def test_channel_and_date_labels():
    assert [channel_label(c) for c in ("whatsapp", "instagram", "sms", "email", "telegram", None)] == [
        "WhatsApp", "Instagram", "SMS", "Email", "Telegram", "Unknown channel"]
    assert day_label(date(2026, 11, 20)) == "20 Nov" and day_label(date(2026, 3, 5)) == "5 Mar"
    assert moment_label(datetime(2026, 11, 20, 9, 5)) == "20 Nov 09:05"
    assert reason_label("sales_ready") == "a qualified lead is ready to buy"
    with pytest.raises(ValueError):
        reason_label("because")


def test_shorten_cuts_at_a_word_and_flattens_lines():
    assert shorten("short", 10) == "short"
    assert shorten("Where is my order?\n\nIt is late, again.", 30) == "Where is my order? It is late…"
    assert len(shorten("x" * 100, 20)) == 20


@pytest.mark.parametrize("text, expected", [
    ("write to ana.souza+shop@example.com.br today", "write to [email] today"),
    ("call me on +55 11 98765-4321", "call me on [phone]"),
    ("meu whats é (11) 98765-4321", "meu whats é [phone]"),
    ("number 5511987654321 please", "number [phone] please"),
    ("I moved to 221 Baker Street, London", "I moved to [address], London"),
    ("entregar na Rua Augusta, 1500 apto 3", "entregar na [address] apto 3"),
    ("Av. Paulista 1000, São Paulo", "[address], São Paulo"),
])
def test_redact_removes_emails_phones_and_street_addresses(text, expected):
    assert redact(text) == expected


def test_redact_keeps_what_the_agent_needs():
    kept = "Order TL-48213, 2 × Nimbus Pillow, due 22 Nov 2026, case #12, BRL 499.00"
    assert redact(kept) == kept
