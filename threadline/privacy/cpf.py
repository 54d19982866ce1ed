"""CPF numbers (the Brazilian tax id) found in customer text, and masked.

A CPF is 11 digits whose last two are check digits (mod-11 over the first nine, then ten);
"111.111.111-11" and the other all-same-digit numbers pass that arithmetic but are not issued,
so they are not CPFs. Customers type 11-digit phones too ("11987654321": area code 11, mobile
9...), so which 11 digits are a CPF is decided by shape, check digits and the words before:

1. "123.456.789-09" (the CPF's own format) with valid check digits is a CPF anywhere.
2. Other shapes ("12345678909", "123456789-09") with valid check digits are a CPF after the word
   "cpf" (or "c.p.f."), never after a phone word ("tel", "celular", "whats", "zap", "phone"...),
   and otherwise only when they do not look like a Brazilian mobile (two-digit area code
   without a 0, then 9): "12345678909" is a CPF, "11987654321" stays a phone.
3. After the word "cpf", 11 digits in any of those shapes are masked even with a wrong check
   digit: a mistyped CPF still discloses nine of its digits.

`mask_cpfs` writes each CPF the way Brazilian public bodies publish them, first three and
check digits hidden: "123.456.789-09" → "***.456.789-**" (`MASK_PATTERN` recognises it). That
is what the tracker, the CRM, the logs and the handoff summary hold (README, "Privacy").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List

CANONICAL = re.compile(r"(?<![\d.\-/])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\d\-/]|[.,]\d)")
OTHER_SHAPES = re.compile(r"(?<![\d.\-/+])(?:\d{11}|\d{9}-\d{2})(?![\d\-/]|[.,]\d)")
# What a masked CPF looks like, so that a later reader (the entity extractor, a second masking
# pass) knows one was there.
MASK_PATTERN = re.compile(r"\*{3}\.\d{3}\.\d{3}-\*{2}")
# The word "cpf" shortly before the number, with no other digits in between ("meu cpf é o ",
# "CPF: ", "cpf nº ").
_CPF_BEFORE = re.compile(r"\bc\.?p\.?f\b\.?[^\d]{0,20}$", re.IGNORECASE)
_PHONE_BEFORE = re.compile(
    r"\b(?:tel|telefone|fone|cel|celular|whats|whatsapp|wpp|zap|contato|ligar|liga|ligue|phone|mobile"
    r"|cell|call|number)\b\.?[^\d]{0,20}$", re.IGNORECASE)
_CONTEXT_CHARS = 40


@dataclass(frozen=True)
class CpfMention:
    start: int
    end: int
    digits: str

    @property
    def masked(self) -> str:
        return mask(self.digits)


def is_valid_cpf(digits: str) -> bool:
    """Whether 11 digits are a CPF that could be issued: both check digits right, not all one digit."""
    if len(digits) != 11 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    numbers = [int(d) for d in digits]
    for length in (9, 10):
        total = sum(n * weight for n, weight in zip(numbers, range(length + 1, 1, -1)))
        if (total * 10) % 11 % 10 != numbers[length]:
            return False
    return True


def mask(digits: str) -> str:
    """"12345678909" → "***.456.789-**"."""
    return f"***.{digits[3:6]}.{digits[6:9]}-**"


def find_cpfs(text: str) -> List[CpfMention]:
    """The CPFs in `text` (rules in the module docstring), in order."""
    found = []
    for match in CANONICAL.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if is_valid_cpf(digits) or _named_cpf(text, match.start(), digits):
            found.append(CpfMention(match.start(), match.end(), digits))
    for match in OTHER_SHAPES.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if _other_shape_is_cpf(text, match.start(), digits):
            found.append(CpfMention(match.start(), match.end(), digits))
    return sorted(found, key=lambda m: m.start)


def mask_cpfs(text: str) -> str:
    """`text` with every CPF in it masked ("***.456.789-**"); the rest exactly as it was."""
    pieces, last = [], 0
    for mention in find_cpfs(text):
        pieces += [text[last:mention.start], mention.masked]
        last = mention.end
    return "".join(pieces) + text[last:] if pieces else text


def _before(text: str, start: int) -> str:
    return text[max(0, start - _CONTEXT_CHARS):start]


def _named_cpf(text: str, start: int, digits: str) -> bool:
    return len(set(digits)) > 1 and bool(_CPF_BEFORE.search(_before(text, start)))


def _other_shape_is_cpf(text: str, start: int, digits: str) -> bool:
    if _named_cpf(text, start, digits):
        return True
    if not is_valid_cpf(digits) or _PHONE_BEFORE.search(_before(text, start)):
        return False
    return not _looks_like_brazilian_mobile(digits)


def _looks_like_brazilian_mobile(digits: str) -> bool:
    # Area codes run 11-99 and contain no 0; mobile numbers after them start with 9.
    return digits[0] != "0" and digits[1] != "0" and digits[2] == "9"
