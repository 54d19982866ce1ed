"""Customer-facing texts per language: message catalogues (gettext, Babel) and locale formatting.

The bottom layer: it imports nothing of connectors, actions or the console. English is the
source language (each msgid is the English text, with named `{placeholders}`); Portuguese
lives in locale/pt_BR/LC_MESSAGES/threadline.po. A customer's `language` ("en", "pt", None
for not known yet) picks the catalogue and the locale, English when unknown.
"""
from threadline.i18n.catalogue import N_, Texts, locale_of, texts_for, translator

__all__ = ["N_", "Texts", "locale_of", "texts_for", "translator"]
