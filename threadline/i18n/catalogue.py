"""Message catalogues: the customer's language → gettext/ngettext, and a `Texts` that also formats.

The .po files are compiled in memory the first time a language is used (babel's pofile →
mofile → `babel.support.Translations`), so no compiled .mo is committed or has to be built
by a setup step, and an edited .po is what the next process speaks.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Callable, Optional, Union

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from threadline.i18n import formatting

DOMAIN = "threadline"
LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"
# The customer's language (the `language` slot, the CRM's customers.language) → its locale.
LOCALES = {"en": "en", "pt": "pt_BR"}

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def N_(message: str) -> str:
    """Marks a constant for the catalogue (extraction); translated where it is said."""
    return message


def locale_of(language: Optional[str]) -> str:
    """The locale a customer is answered in: English when the language is unknown or unsupported."""
    return LOCALES.get((language or "").strip().lower(), LOCALES[SOURCE_LANGUAGE])


def compiled(po_path: Path, locale: str, domain: str) -> Translations:
    """A .po catalogue compiled in memory (the customers', the console's, the summary's)."""
    with po_path.open("rb") as po:
        catalog = read_po(po, locale=locale, domain=domain)
    binary = BytesIO()
    write_mo(binary, catalog)  # fuzzy entries are left out: an unchecked translation falls back to English
    binary.seek(0)
    return Translations(binary, domain=domain)


def catalogue_file(locale_dir: Path, locale: str, domain: str) -> Path:
    return locale_dir / locale / "LC_MESSAGES" / f"{domain}.po"


@lru_cache(maxsize=None)
def translations_of(locale_dir: Path, locale: str, domain: str) -> NullTranslations:
    """The `domain` catalogue of `locale` under `locale_dir`, compiled once per process; English
    is the identity (the msgids are the English texts). Every catalogue of the project is read so."""
    if locale == LOCALES[SOURCE_LANGUAGE]:
        return NullTranslations()
    return compiled(catalogue_file(locale_dir, locale, domain), locale, domain)


def _translations(locale: str) -> NullTranslations:
    return translations_of(LOCALE_DIR, locale, DOMAIN)


class CatalogueWords:
    """Sentences of one catalogue in one language, for the texts agents read (the handoff
    summary's, the follow-up tasks'): `words("… %(name)s …", name=…)`, `words.plural(…)`.
    A subclass names its catalogue (`translations`)."""

    language: str

    def translations(self) -> NullTranslations:
        raise NotImplementedError

    def __call__(self, message: str, **values: object) -> str:
        """`message` translated, then filled (`%(name)s` placeholders)."""
        text = self.translations().gettext(message)
        return text % values if values else text

    def plural(self, singular: str, plural: str, count: int, **values: object) -> str:
        return self.translations().ngettext(singular, plural, count) % dict(values, count=count)


def translator(language: Optional[str]) -> tuple[Gettext, Ngettext]:
    """(gettext, ngettext) for a customer's language."""
    translations = _translations(locale_of(language))
    return translations.gettext, translations.ngettext


@dataclass(frozen=True)
class Texts:
    """What an action needs to speak to one customer: their catalogue and their formats."""

    language: Optional[str]

    @property
    def locale(self) -> str:
        return locale_of(self.language)

    def gettext(self, message: str) -> str:
        return _translations(self.locale).gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return _translations(self.locale).ngettext(singular, plural, count)

    def date(self, day: date) -> str:
        return formatting.say_date(day, self.locale)

    def money(self, amount: Union[Decimal, float, int], currency: str) -> str:
        return formatting.say_money(amount, currency, self.locale)

    def number(self, value: Union[Decimal, float, int]) -> str:
        return formatting.say_number(value, self.locale)


def texts_for(language: Optional[str]) -> Texts:
    return Texts(language)
