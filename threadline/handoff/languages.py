"""The languages a handoff summary is written in, for agents who read English or pt-BR (issue #16).

The summary's sentences and labels come from `Words`: English is the source (the strings in
the code, unchanged), Portuguese is locale/pt_BR/LC_MESSAGES/summary.po, compiled in memory.
What the customer wrote is quoted as they wrote it, in their language, in every version.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Dict, Optional

from babel.dates import format_skeleton, format_time
from babel.support import NullTranslations

from threadline.i18n.catalogue import CatalogueWords, catalogue_file, translations_of
from threadline.handoff import rendering

ENGLISH = "en"
PORTUGUESE = "pt"
# The summary's languages → the Babel locale of their words and dates.
LOCALES: Dict[str, str] = {ENGLISH: "en", PORTUGUESE: "pt_BR"}
DOMAIN = "summary"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def catalogue_path(language: str) -> Path:
    return catalogue_file(LOCALE_DIR, LOCALES[language], DOMAIN)


def _translations(language: str) -> NullTranslations:
    return translations_of(LOCALE_DIR, LOCALES[language], DOMAIN)


@dataclass(frozen=True)
class Words(CatalogueWords):
    """The summary's words in one language: sentences, labels, days and moments."""

    language: str

    def translations(self) -> NullTranslations:
        return _translations(self.language)

    def channel(self, channel: Optional[str]) -> str:
        return self(rendering.channel_label(channel))

    def reason(self, reason: str) -> str:
        return self(rendering.reason_label(reason))

    def day(self, day: date) -> str:
        """"20 Nov" in English, "20/11" in Brazilian Portuguese (Babel's day-month skeleton)."""
        if self.language == ENGLISH:
            return rendering.day_label(day)
        return format_skeleton("dM", day, locale=LOCALES[self.language])

    def moment(self, moment: datetime) -> str:
        """"20 Nov 14:05" in English, "20/11 14:05" in Brazilian Portuguese (UTC, as stored)."""
        if self.language == ENGLISH:
            return rendering.moment_label(moment)
        return f"{self.day(moment)} {format_time(moment, 'HH:mm', tzinfo=timezone.utc, locale=LOCALES[self.language])}"


def marked(message: str) -> str:
    """Marks a string for a catalogue (`pybabel extract -k marked`) that is translated later, by value."""
    return message


ENGLISH_WORDS = Words(ENGLISH)
# Every language but English: the summary is also written in these (summary.py).
TRANSLATED_WORDS = tuple(Words(language) for language in LOCALES if language != ENGLISH)
