"""Brazilian shapes in customer text: CPF, CEP, amounts in reais or dollars, and dates.

- `cpf`: the rules and the mask of threadline/privacy/cpf.py. The value is always the mask
  ("***.456.789-**"): by the time a message reaches NLU its CPF is masked (connectors/webhook/
  typed_text.py), and a mask in the text is a `cpf` entity too.
- `cep`: "01310-100" or "01.310-100" anywhere; "01310100" or "01310.100" only after the word
  "cep" (bare eight digits are too often something else). Value "01310-100".
- `amount`: "R$ 499,90", "R$1.234,56", "499,90 reais", "US$ 20", "$49.99", "49.99 dollars".
  Value "499.90" (two decimals), `additional_info: {"currency": "BRL" | "USD"}` (the key Rasa's
  Duckling extractor uses for what is not the value). Which mark is the decimal one is read
  from the number's shape (",90" and ".99" end in one or two digits; "1.234" and "1,234" are
  thousands), and Babel's `parse_decimal` parses it in the locale that writes it that way.
- `date`: threadline/nlu/dates.py, value "2026-12-04".

`find_brazilian_entities(text, today)` is what StructuredEntityExtractor calls; where one of
these overlaps a phone, an order number or a code, this one wins (a CPF is 11 digits, a CEP 8).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Dict, List, Optional

from babel.numbers import NumberFormatError, parse_decimal

from threadline.nlu.dates import find_dates
from threadline.nlu.spans import longest_first
from threadline.privacy.cpf import MASK_PATTERN, find_cpfs

CEP_FORMATTED = re.compile(r"(?<![\d.\-/])\d{2}\.?\d{3}-\d{3}(?![\d\-/]|[.,]\d)")
CEP_AFTER_WORD = re.compile(r"\bcep\b\.?[^\d]{0,15}(?P<cep>\d{5}\.?\d{3})(?![\d\-/]|[.,]\d)", re.IGNORECASE)

_NUMBER = r"\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
AMOUNT = re.compile(
    rf"(?<![\w$])(?P<symbol>R\$|US\$|U\$|\$|USD|BRL)\s?(?P<before>{_NUMBER})(?![\d.,]*\d)"
    rf"|(?<![\w.,])(?P<after>{_NUMBER})\s?(?P<word>reais|real|conto|contos|dólares|dolares|dollars|dollar|bucks"
    rf"|usd|brl)\b",
    re.IGNORECASE)
CURRENCIES = {"r$": "BRL", "brl": "BRL", "reais": "BRL", "real": "BRL", "conto": "BRL", "contos": "BRL",
              "us$": "USD", "u$": "USD", "$": "USD", "usd": "USD", "dólares": "USD", "dolares": "USD",
              "dollars": "USD", "dollar": "USD", "bucks": "USD"}
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Mention:
    entity: str
    start: int
    end: int
    value: str
    additional_info: Optional[Dict[str, Any]] = field(default=None)


def find_brazilian_entities(text: str, today: date) -> List[Mention]:
    """The cpf, cep, amount and date entities in `text`, in order, none overlapping."""
    found = (_cpfs(text) + _ceps(text) + _amounts(text)
             + [Mention("date", d.start, d.end, d.value.isoformat()) for d in find_dates(text, today)])
    return longest_first(found)


def _cpfs(text: str) -> List[Mention]:
    mentions = [Mention("cpf", m.start, m.end, m.masked) for m in find_cpfs(text)]
    return mentions + [Mention("cpf", m.start(), m.end(), m.group()) for m in MASK_PATTERN.finditer(text)]


def _ceps(text: str) -> List[Mention]:
    spans = [(m.start(), m.end()) for m in CEP_FORMATTED.finditer(text)]
    spans += [m.span("cep") for m in CEP_AFTER_WORD.finditer(text)]
    mentions = []
    for start, end in spans:
        digits = re.sub(r"\D", "", text[start:end])
        mentions.append(Mention("cep", start, end, f"{digits[:5]}-{digits[5:]}"))
    return mentions


def _amounts(text: str) -> List[Mention]:
    mentions = []
    for match in AMOUNT.finditer(text):
        number = match.group("before") or match.group("after")
        marker = (match.group("symbol") or match.group("word")).lower()
        currency = CURRENCIES[marker]
        value = parse_amount(number, "pt_BR" if currency == "BRL" else "en_US")
        if value is not None:
            mentions.append(Mention("amount", match.start(), match.end(), str(value),
                                    {"currency": currency}))
    return mentions


def parse_amount(number: str, usual_locale: str) -> Optional[Decimal]:
    """"1.234,56" → 1234.56, "49.99" → 49.99, "1,234" → 1234; `usual_locale` decides only when
    the shape does not ("1.234" is 1234 in reais, but "1.23" is 1.23 anywhere)."""
    compact = number
    marks = [c for c in compact if c in ".,"]
    decimal_mark = None
    if marks:
        last = compact.rfind(marks[-1])
        if len(compact) - last - 1 in (1, 2) or len(set(marks)) == 2:
            decimal_mark = marks[-1]
    if decimal_mark is None and marks:
        compact = compact.replace(marks[0], "")  # thousands only
        locale = usual_locale
    else:
        locale = "pt_BR" if decimal_mark == "," else "en_US"
    try:
        return parse_decimal(compact, locale=locale).quantize(CENTS)
    except NumberFormatError:
        return None
