"""Splitting long replies at sentence boundaries, and SMS segment arithmetic."""
from __future__ import annotations

import re
from typing import Callable, List, Tuple

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")

# GSM 03.38 basic set and extension table (extension characters cost two septets).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def split_text(text: str, fits: Callable[[str], bool]) -> List[str]:
    """Parts that each `fits`, cut between sentences, else between words, else anywhere."""
    text = text.strip()
    if fits(text):
        return [text] if text else []
    parts: List[str] = []
    current = ""
    for sentence in _pieces(text, fits):
        candidate = f"{current} {sentence}" if current else sentence
        if fits(candidate):
            current = candidate
        else:
            if current:
                parts.append(current)
            current = sentence
    if current:
        parts.append(current)
    return parts


def _pieces(text: str, fits: Callable[[str], bool]) -> List[str]:
    pieces: List[str] = []
    for sentence in filter(None, (s.strip() for s in _SENTENCE_END.split(text))):
        if fits(sentence):
            pieces.append(sentence)
            continue
        for word in sentence.split():
            if fits(word):
                pieces.append(word)
            else:
                pieces.extend(_hard_cut(word, fits))
    return pieces


def _hard_cut(word: str, fits: Callable[[str], bool]) -> List[str]:
    cuts, current = [], ""
    for char in word:
        if fits(current + char):
            current += char
        else:
            cuts.append(current)
            current = char
    return cuts + ([current] if current else [])


def sms_encoding(text: str) -> str:
    return "GSM-7" if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text) else "UCS-2"


def sms_segments(text: str) -> Tuple[str, int]:
    """(encoding, number of SMS segments) a carrier bills for `text`."""
    encoding = sms_encoding(text)
    if encoding == "GSM-7":
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)  # UTF-16 code units
        single, multi = 70, 67
    if units <= single:
        return encoding, 1
    return encoding, -(-units // multi)
