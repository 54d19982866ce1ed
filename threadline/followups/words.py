"""The words of a follow-up task's summary, in the languages agents read (English, pt-BR).

English is the source (the strings in alerts.py, unchanged); Portuguese is
locale/pt_BR/LC_MESSAGES/followups.po, compiled in memory like the handoff summary's catalogue,
whose days, moments, channels and handoff reasons these words reuse. What the business wrote
(a promise's text, a product's name) is quoted as it was written, in every version.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.support import NullTranslations

from threadline.handoff.languages import LOCALES, Words
from threadline.i18n.catalogue import CatalogueWords, catalogue_file, translations_of

DOMAIN = "followups"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def catalogue_path(language: str) -> Path:
    return catalogue_file(LOCALE_DIR, LOCALES[language], DOMAIN)


def _translations(language: str) -> NullTranslations:
    return translations_of(LOCALE_DIR, LOCALES[language], DOMAIN)


@dataclass(frozen=True)
class TaskWords(CatalogueWords):
    language: str

    def translations(self) -> NullTranslations:
        return _translations(self.language)

    @property
    def common(self) -> Words:
        """The handoff summary's words: days, moments, channels, handoff reasons."""
        return Words(self.language)


# Every language a task summary is written in; English first (the stored `summary_text`).
ALL_WORDS = tuple(TaskWords(language) for language in LOCALES)
