"""Customer-facing texts per language: message catalogues (gettext, Babel) and locale formatting.

The bottom layer: it imports nothing of connectors, actions or the console. English is the
source language (each msgid is the English text, with named `{placeholders}`); Portuguese
lives in locale/pt_BR/LC_MESSAGES/threadline.po. A customer's `language` ("en", "pt", None
for not known yet) picks the catalogue and the locale, English when unknown.

In an action: `texts = texts_of(tracker)` (actions/crm_context.py), then
`texts.gettext("Your order {order} ...").format(order=..., day=texts.date(day))`; a module
constant is marked `N_("...")` and said as `texts.gettext(CONSTANT)`. A new or changed text:
`make texts-catalogue` adds its msgid to the .po, a person writes the Portuguese, and
tests/i18n/test_catalogue.py fails while any text lacks a checked translation (or its
placeholders differ). Texts of domain responses are not here: they are domain.yml's.
"""
from threadline.i18n.catalogue import N_, Texts, locale_of, texts_for, translator

__all__ = ["N_", "Texts", "locale_of", "texts_for", "translator"]
