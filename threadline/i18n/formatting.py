"""Dates, money and numbers as a customer of each locale reads them (Babel, CLDR data).

English keeps the shop's original wording ("Fri 5 Dec", "BRL 1,234.56"): the currency code,
not a symbol, because "$" alone is ambiguous to English readers of a Brazilian shop.
Brazilian Portuguese writes "05/12 (sexta-feira)" and "R$ 1.234,56" (CLDR puts a no-break
space after the symbol, so the amount never wraps away from it). The weekday comes last so
every sentence reads "em 05/12", "até 05/12": before a weekday the preposition would
have to agree with it ("na sexta-feira", "no sábado"), which one msgid cannot do.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Union

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

ENGLISH = "en"
DATE_PATTERNS = {ENGLISH: "EEE d MMM", "pt_BR": "dd/MM (EEEE)"}
ENGLISH_AMOUNT = "#,##0.00"

Amount = Union[Decimal, float, int]


def say_date(day: date, locale: str = ENGLISH) -> str:
    return format_date(day, DATE_PATTERNS.get(locale, DATE_PATTERNS[ENGLISH]), locale=locale)


def say_money(amount: Amount, currency: str, locale: str = ENGLISH) -> str:
    if locale == ENGLISH:
        return f"{currency} {format_decimal(amount, ENGLISH_AMOUNT, locale=ENGLISH)}"
    return format_currency(amount, currency, locale=locale)


def say_number(value: Amount, locale: str = ENGLISH) -> str:
    return format_decimal(value, locale=locale)
