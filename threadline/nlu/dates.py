"""Dates as customers write them, resolved to ISO dates relative to the day of the message.

Portuguese: "hoje", "amanhã"/"amanha", "depois de amanhã", "ontem", "anteontem", weekdays
("sexta", "sexta-feira", "sexta que vem", "próxima sexta", "sexta passada"), "dia 15", "15/12",
"15/12/2026", "15 de dezembro", "15 de dezembro de 2026". English: "today", "tomorrow",
"the day after tomorrow", "yesterday", weekdays ("friday", "next friday", "last friday"),
"on the 15th", "december 15", "15 december", "dec 15th".

A date with no year or month, and a weekday, is the next one from today (today included for
a weekday named alone or a day of the month: "sexta" on a Friday is today), as Duckling does;
"que vem"/"próxima"/"next" skip today, "passada"/"last" look back. "15/12" is day first (the
business is Brazilian), also in English. A day that does not exist ("31/02") is no date.
Month and weekday names come from Babel's CLDR data, written with and without accents.

`find_dates(text, today)` takes the day explicitly so that tests pin it; the NLU component
passes the business's day (BUSINESS_TIMEZONE, default America/Sao_Paulo) from `business_today`.
"""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Dict, List, Optional
from zoneinfo import ZoneInfo

from babel.dates import get_day_names, get_month_names

from threadline.nlu.spans import longest_first

DEFAULT_TIMEZONE = "America/Sao_Paulo"
Clock = Callable[[], date]


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    value: date


def business_today() -> date:
    """Today in the business's time zone (BUSINESS_TIMEZONE)."""
    return datetime.now(ZoneInfo(os.environ.get("BUSINESS_TIMEZONE") or DEFAULT_TIMEZONE)).date()


def _unaccented(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


def _alternatives(names: Dict[str, int]) -> str:
    return "|".join(sorted(map(re.escape, names), key=len, reverse=True))


def _month_names() -> Dict[str, int]:
    names: Dict[str, int] = {}
    for locale in ("pt_BR", "en"):
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                for form in {name.lower().rstrip("."), _unaccented(name.lower().rstrip("."))}:
                    names[form] = number
    names["sept"] = 9
    return names


def _weekday_names() -> Dict[str, int]:
    """Name → Python weekday (Monday 0); Babel numbers them the same way."""
    names: Dict[str, int] = {}
    for locale in ("pt_BR", "en"):
        for number, name in get_day_names("wide", locale=locale).items():
            for form in {name.lower(), _unaccented(name.lower())}:
                names[form] = number
                if form.endswith("-feira"):  # "sexta", "sexta feira"
                    names[form[: -len("-feira")]] = number
                    names[form.replace("-", " ")] = number
    return names


MONTHS = _month_names()
WEEKDAYS = _weekday_names()
# Short names that are also words ("15 out of 20", "set", "mar" is sea, "dez" is ten) would
# misfire: only wide names and the unambiguous short ones count; "may" only before a day.
_SHORT_AFTER_DAY = ("jan", "feb", "fev", "apr", "abr", "mai", "jun", "jul", "aug", "ago", "oct", "nov", "dec")
_AFTER_DAY = {name: n for name, n in MONTHS.items() if len(name) > 3 or name in _SHORT_AFTER_DAY}
_BEFORE_DAY = {name: n for name, n in _AFTER_DAY.items() if name not in ("ago", "mai")} | {"may": 5}
_MONTH = f"(?P<month>{_alternatives(_AFTER_DAY)})"
_MONTH_BEFORE_DAY = f"(?P<month>{_alternatives(_BEFORE_DAY)})"
# "segunda via" is a duplicate invoice, "quinta vez" the fifth time: ordinals, not weekdays.
_NOT_AN_ORDINAL = r"(?!\s+(?:via|vias|vez|vezes|op[cç][aã]o|m[aã]o|parcela|tentativa)\b)"
_WEEKDAY = f"(?P<weekday>{_alternatives(WEEKDAYS)}){_NOT_AN_ORDINAL}"
_DAY_WORD = r"(?:(?:dia|the|on\s+the)\s+)?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th|º|°)?"
_YEAR = r"(?P<year>\d{4})"

# Offsets from today, by word.
RELATIVE_DAYS = {
    "hoje": 0, "today": 0, "amanha": 1, "amanhã": 1, "tomorrow": 1, "ontem": -1, "yesterday": -1,
    "depois de amanha": 2, "depois de amanhã": 2, "the day after tomorrow": 2, "day after tomorrow": 2,
    "anteontem": -2, "the day before yesterday": -2,
    # As customers type them in chat: the data annotates these as the day they mean.
    "hj": 0, "amn": 1, "tonight": 0, "this morning": 0, "this afternoon": 0, "this evening": 0,
    "last night": -1,
}
NEXT_WORDS = ("próxima", "proxima", "próximo", "proximo", "next")
AFTER_NEXT_WORDS = ("que vem", "da semana que vem")
LAST_WORDS = ("passada", "passado", "last")

_PATTERNS = [
    ("relative", rf"(?P<relative>{_alternatives(RELATIVE_DAYS)})(?!\s+em\s+dia)"),  # "hoje em dia": nowadays
    ("numeric", rf"{_DAY_WORD}(?P<day>[0-3]?\d)/(?P<month>[01]?\d)(?:/(?P<year>\d{{4}}|\d{{2}}))?"),
    ("day_month", rf"{_DAY_WORD}{_DAY}\s+(?:de\s+)?{_MONTH}\.?(?:\s+(?:de\s+)?{_YEAR})?"),
    ("month_day", rf"{_MONTH_BEFORE_DAY}\.?\s+(?:the\s+)?{_DAY}(?:,?\s+{_YEAR})?"),
    ("weekday", rf"(?:(?P<before>{'|'.join(NEXT_WORDS + LAST_WORDS)})\s+)?{_WEEKDAY}"
                rf"(?:\s+(?P<after>{'|'.join(AFTER_NEXT_WORDS + LAST_WORDS)}))?"),
    # "the 3" is as often "the 3 chairs": in English only an ordinal is a day.
    ("day_only", rf"dia\s+{_DAY}|the\s+(?P<ordinal>[0-3]?\d)(?:st|nd|rd|th)"),
]


def _compile() -> List[re.Pattern]:
    return [re.compile(rf"(?<![\w/]){body}(?![\w/])", re.IGNORECASE) for _, body in _PATTERNS]


_COMPILED = list(zip([name for name, _ in _PATTERNS], _compile()))


def find_dates(text: str, today: date) -> List[DateMention]:
    """Every date in `text` resolved against `today`, longest match first where two overlap."""
    candidates = []
    for kind, pattern in _COMPILED:
        for match in pattern.finditer(text):
            value = _resolve(kind, match, today)
            if value is not None:
                candidates.append(DateMention(match.start(), match.end(), value))
    return longest_first(candidates)


def _resolve(kind: str, match: re.Match, today: date) -> Optional[date]:
    groups = {k: (v.lower() if v else v) for k, v in match.groupdict().items()}
    if kind == "relative":
        return today + timedelta(days=RELATIVE_DAYS[groups["relative"]])
    if kind == "weekday":
        return _weekday(WEEKDAYS[groups["weekday"]], groups.get("before"), groups.get("after"), today)
    month = groups.get("month")
    month_number = int(month) if month and month.isdigit() else MONTHS.get(month or "", today.month)
    if kind == "day_only":
        return _upcoming(int(groups["day"] or groups["ordinal"]), None, None, today)
    year = groups.get("year")
    year_number = (2000 + int(year) if len(year) == 2 else int(year)) if year else None
    return _upcoming(int(groups["day"]), month_number, year_number, today)


def _weekday(weekday: int, before: Optional[str], after: Optional[str], today: date) -> date:
    if before in LAST_WORDS or after in LAST_WORDS:
        return today - timedelta(days=(today.weekday() - weekday - 1) % 7 + 1)
    skip_today = before in NEXT_WORDS or after in AFTER_NEXT_WORDS
    ahead = (weekday - today.weekday()) % 7
    return today + timedelta(days=7 if skip_today and ahead == 0 else ahead)


def _upcoming(day: int, month: Optional[int], year: Optional[int], today: date) -> Optional[date]:
    """The date with that day (and month, and year); without a year or month, the next from today."""
    if year is not None:
        return _date(year, month or today.month, day)
    if month is not None:
        for candidate_year in (today.year, today.year + 1):
            value = _date(candidate_year, month, day)
            if value is not None and value >= today:
                return value
        return None
    for offset in range(0, 3):  # this month, else the next that has that day
        first = date(today.year + (today.month - 1 + offset) // 12, (today.month - 1 + offset) % 12 + 1, 1)
        value = _date(first.year, first.month, day)
        if value is not None and value >= today:
            return value
    return None


def _date(year: int, month: int, day: int) -> Optional[date]:
    try:
        return date(year, month, day)
    except ValueError:
        return None
