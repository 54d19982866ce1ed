"""Signature test vectors from docs (channels.md) and the text limits of each channel."""
from __future__ import annotations

from connectors.instagram import InstagramOutput
from connectors.webhook.signatures import (
    meta_signature, meta_signature_valid, twilio_signature, twilio_signature_valid,
)
from connectors.webhook.text import sms_segments, split_text

TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                 "From": "+14158675309", "To": "+18005551212"}


def test_meta_vector():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    expected = "sha256=1e948187320e1d8a8ab09e20b7172f8fe97e79394c0980b59b485e00288e389d"
    assert meta_signature("my_app_secret", body) == expected
    assert meta_signature_valid("my_app_secret", body, expected)
    assert not meta_signature_valid("my_app_secret", body + b" ", expected)
    assert not meta_signature_valid("other", body, expected)
    assert not meta_signature_valid("my_app_secret", body, None)
    assert not meta_signature_valid("", body, meta_signature("", body))  # no secret: never valid


def test_twilio_vector_with_twilios_own_validator():
    assert twilio_signature("12345", TWILIO_URL, TWILIO_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_signature_valid("12345", TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not twilio_signature_valid("12345", TWILIO_URL, {**TWILIO_PARAMS, "Digits": "9"},
                                      "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_split_prefers_sentences_then_words():
    text = "First sentence here. Second one is a bit longer! Third?"
    assert split_text(text, lambda t: len(t) <= 25) == ["First sentence here.", "Second one is a bit", "longer! Third?"]
    assert split_text("x" * 30, lambda t: len(t) <= 12) == ["x" * 12, "x" * 12, "x" * 6]
    assert split_text("short", lambda t: len(t) <= 12) == ["short"]


def test_instagram_limit_counts_utf8_bytes():
    fits = InstagramOutput.fits.__get__(object.__new__(InstagramOutput))
    assert fits("a" * 1000) and not fits("ã" * 501) and fits("ã" * 500)
    parts = split_text("Não é possível. " * 100, fits)
    assert all(len(p.encode()) <= 1000 for p in parts) and len(parts) == 2


def test_sms_segments_gsm7_ucs2_and_extension_characters():
    assert sms_segments("a" * 160) == ("GSM-7", 1)
    assert sms_segments("a" * 161) == ("GSM-7", 2)
    assert sms_segments("{" * 80) == ("GSM-7", 1) and sms_segments("{" * 81) == ("GSM-7", 2)
    assert sms_segments("Olá, não") == ("UCS-2", 1)
    assert sms_segments("ç" * 71) == ("UCS-2", 2)
    assert sms_segments("😀" * 35) == ("UCS-2", 1) and sms_segments("😀" * 36) == ("UCS-2", 2)
