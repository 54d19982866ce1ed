"""The date resolver on fixed days: Tuesday 1 December 2026, and a Friday and a month's end."""
from __future__ import annotations

from datetime import date
from typing import List, Tuple

import pytest

from threadline.nlu.dates import business_today, find_dates

TUESDAY = date(2026, 12, 1)
FRIDAY = date(2026, 12, 4)


def resolved(text: str, today: date = TUESDAY) -> List[Tuple[str, str]]:
    return [(text[m.start:m.end], m.value.isoformat()) for m in find_dates(text, today)]


@pytest.mark.parametrize("text, words, value", [
    ("chega amanhã?", "amanhã", "2026-12-02"),
    ("chega hj?", "hj", "2026-12-01"),
    ("vc entrega amn?", "amn", "2026-12-02"),
    ("can it arrive tonight?", "tonight", "2026-12-01"),
    ("I paid this morning", "this morning", "2026-12-01"),
    ("ordered it last night", "last night", "2026-11-30"),
    ("chega amanha?", "amanha", "2026-12-02"),
    ("AMANHA sem falta", "AMANHA", "2026-12-02"),
    ("hoje ainda?", "hoje", "2026-12-01"),
    ("depois de amanhã serve", "depois de amanhã", "2026-12-03"),
    ("paguei ontem", "ontem", "2026-11-30"),
    ("pode ser sexta que vem", "sexta que vem", "2026-12-04"),
    ("na sexta-feira", "sexta-feira", "2026-12-04"),
    ("na sexta feira de manha", "sexta feira", "2026-12-04"),
    ("na próxima segunda", "próxima segunda", "2026-12-07"),
    ("no sabado", "sabado", "2026-12-05"),
    ("no sábado", "sábado", "2026-12-05"),
    ("sexta passada", "sexta passada", "2026-11-27"),
    ("vence dia 15", "dia 15", "2026-12-15"),
    ("vence dia 1", "dia 1", "2026-12-01"),
    ("15/12", "15/12", "2026-12-15"),
    ("15/12/2027", "15/12/2027", "2027-12-15"),
    ("entregue em 12/03/25", "12/03/25", "2025-03-12"),
    ("15 de dezembro", "15 de dezembro", "2026-12-15"),
    ("dia 5 de março", "dia 5 de março", "2027-03-05"),
    ("dia 5 de marco de 2027", "dia 5 de marco de 2027", "2027-03-05"),
    ("10 fev", "10 fev", "2027-02-10"),
    ("tomorrow please", "tomorrow", "2026-12-02"),
    ("next friday", "next friday", "2026-12-04"),
    ("on Friday", "Friday", "2026-12-04"),
    ("last monday", "last monday", "2026-11-30"),
    ("on the 15th", "the 15th", "2026-12-15"),
    ("december 15th", "december 15th", "2026-12-15"),
    ("dec 24, 2026", "dec 24, 2026", "2026-12-24"),
    ("the day after tomorrow", "the day after tomorrow", "2026-12-03"),
])
def test_dates_resolve_against_the_day_of_the_message(text, words, value):
    assert resolved(text) == [(words, value)]


def test_a_weekday_is_the_next_one_today_included_and_next_skips_today():
    assert resolved("sexta", FRIDAY) == [("sexta", "2026-12-04")]
    assert resolved("sexta que vem", FRIDAY) == [("sexta que vem", "2026-12-11")]
    assert resolved("next friday", FRIDAY) == [("next friday", "2026-12-11")]
    assert resolved("last friday", FRIDAY) == [("last friday", "2026-11-27")]


def test_a_day_already_past_this_month_is_next_months_and_a_missing_day_is_skipped():
    assert resolved("dia 15", date(2026, 12, 20)) == [("dia 15", "2027-01-15")]
    assert resolved("dia 31", date(2027, 4, 5)) == [("dia 31", "2027-05-31")]  # April has no 31st
    assert resolved("15/12", date(2026, 12, 20)) == [("15/12", "2027-12-15")]
    assert resolved("dia 29 de fevereiro", date(2027, 1, 10)) == [("dia 29 de fevereiro", "2028-02-29")]


@pytest.mark.parametrize("text", [
    "31/02", "45/12", "15/13",  # no such day
    "preciso da segunda via do boleto",  # an ordinal, not Monday
    "é a quinta vez que eu peço", "terceira opção",
    "15 out of 20", "sold out 15 times", "dez reais", "o mar 3",  # short month names that are words
    "comprei 3 unidades", "pedido 48213", "R$ 15,12",
    "i want the 2 chairs", "hoje em dia ninguem responde",
])
def test_words_and_numbers_that_are_not_dates(text):
    assert resolved(text) == []


def test_two_dates_in_one_message():
    assert resolved("era pra chegar ontem, agora dizem sexta que vem") == [
        ("ontem", "2026-11-30"), ("sexta que vem", "2026-12-04")]


def test_business_today_is_the_day_in_the_business_time_zone(monkeypatch):
    monkeypatch.setenv("BUSINESS_TIMEZONE", "Pacific/Kiritimati")  # UTC+14
    ahead = business_today()
    monkeypatch.setenv("BUSINESS_TIMEZONE", "Pacific/Pago_Pago")  # UTC-11: 25 hours behind, another day
    assert business_today() < ahead
