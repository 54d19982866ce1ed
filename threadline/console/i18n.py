"""The console's languages: English (the source strings) and Brazilian Portuguese (issue #16).

The Portuguese catalogue is locale/pt_BR/LC_MESSAGES/console.po, compiled in memory when the
console starts (no generated .mo in the repository). Templates mark their strings with
`{% trans %}`/`_()` (Jinja2's i18n extension); Python code with `translator(language).gettext`.

An agent's language is what they chose in the console (`agents.language`: "en" or "pt");
before a choice, the browser's Accept-Language decides (any pt* → Portuguese), else English.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from babel.support import NullTranslations

from threadline.i18n.catalogue import catalogue_file, translations_of
from threadline.handoff.languages import ENGLISH, LOCALES, PORTUGUESE

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "console"
# agents.language holds a key of LOCALES (shared with the handoff summary's languages).
# The name of each language in itself, for the switch in the page header.
NATIVE_NAMES: Dict[str, str] = {ENGLISH: "English", PORTUGUESE: "Português (Brasil)"}


def catalogue_path(language: str) -> Path:
    return catalogue_file(LOCALE_DIR, LOCALES[language], DOMAIN)


def translator(language: str) -> NullTranslations:
    """The gettext translations for `language`; English is the identity."""
    return translations_of(LOCALE_DIR, LOCALES[language], DOMAIN)


def known(language: Optional[str]) -> Optional[str]:
    """`language` if the console speaks it ("pt-BR", "pt_br" and "pt" are all Portuguese)."""
    base = (language or "").strip().replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else None


def from_accept_language(header: Optional[str]) -> str:
    """The browser's most preferred language the console speaks (q-values honoured), else English."""
    ranked = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = known(tag)
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else ENGLISH


def choose_language(chosen: Optional[str], accept_language: Optional[str]) -> str:
    """The agent's own choice first, then the browser's."""
    return known(chosen) or from_accept_language(accept_language)
