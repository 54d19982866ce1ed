"""Dates, money and numbers per locale: the Brazilian forms, and the English ones unchanged."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from threadline.i18n import locale_of, texts_for
from threadline.i18n.formatting import say_date, say_money, say_number

FRIDAY = date(2026, 12, 4)
NBSP = "\u00a0"  # CLDR's space between "R$" and the amount: never wrapped apart


def test_money():
    assert say_money(Decimal("1234.56"), "BRL", "pt_BR") == f"R${NBSP}1.234,56"
    assert say_money(Decimal("499"), "BRL", "pt_BR") == f"R${NBSP}499,00"
    assert say_money(Decimal("1234.56"), "BRL") == "BRL 1,234.56"
    assert say_money(Decimal("499"), "BRL", "en") == "BRL 499.00"
    assert texts_for("pt").money(Decimal("1234.5"), "BRL") == f"R${NBSP}1.234,50"


def test_dates():
    assert say_date(FRIDAY, "pt_BR") == "04/12 (sexta-feira)"
    assert say_date(date(2026, 12, 5), "pt_BR") == "05/12 (sábado)"
    assert say_date(FRIDAY) == "Fri 4 Dec"
    assert say_date(date(2027, 1, 11), "en") == "Mon 11 Jan"
    assert texts_for(None).date(FRIDAY) == "Fri 4 Dec"


def test_numbers():
    assert say_number(1234567, "pt_BR") == "1.234.567"
    assert say_number(Decimal("2.5"), "pt_BR") == "2,5"
    assert say_number(1234567) == "1,234,567"
    assert say_number(18) == "18" and say_number(18, "pt_BR") == "18"


def test_the_customers_language_picks_the_locale():
    assert [locale_of(language) for language in ("pt", "PT", "en", None, "es")] == [
        "pt_BR", "pt_BR", "en", "en", "en"]
