"""The pt_BR catalogue against the code: every text the actions and the connectors say has a
checked translation with the same placeholders, and the catalogue holds nothing the code no
longer says (`make texts-catalogue` extracts from both folders)."""
from __future__ import annotations

from string import Formatter

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from threadline.i18n import texts_for, translator
from threadline.i18n.catalogue import LOCALE_DIR
from threadline.settings import PROJECT_DIR

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


SOURCES = ("actions", "connectors")


def said_in_the_code() -> set:
    return {message for folder in SOURCES for _, _, message, _, _ in extract_from_dir(
        str(PROJECT_DIR / folder), method_map=[("**.py", "python")], keywords=KEYWORDS)}


def portuguese_catalogue():
    with (LOCALE_DIR / "pt_BR" / "LC_MESSAGES" / "threadline.po").open("rb") as po:
        return read_po(po, locale="pt_BR")


def placeholders(text: str) -> set:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def test_every_customer_text_has_a_checked_portuguese_translation_and_nothing_else():
    catalogue = portuguese_catalogue()
    entries = {m.id: m for m in catalogue if m.id}
    assert set(entries) == said_in_the_code()
    for message in entries.values():
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        translations = message.string if isinstance(message.string, tuple) else (message.string,)
        assert not message.fuzzy and all(translations), message.id
        for translated in translations:
            assert placeholders(translated) == placeholders(sources[0]), message.id


def test_english_and_unknown_languages_say_the_source_text():
    for language in (None, "en", "es", ""):
        gettext, ngettext = translator(language)
        assert gettext("Welcome back! {news}") == "Welcome back! {news}"
        assert ngettext("You have {tries} more try.", "You have {tries} more tries.", 2) == "You have {tries} more tries."


def test_portuguese_singular_and_plural():
    texts = texts_for("pt")
    wrong = ("That code isn't right. You have {tries} more try.", "That code isn't right. You have {tries} more tries.")
    assert texts.ngettext(*wrong, 1).format(tries=1) == "Esse código não está certo. Você tem mais 1 tentativa."
    assert texts.ngettext(*wrong, 2).format(tries=2) == "Esse código não está certo. Você tem mais 2 tentativas."
    assert translator("PT")[0]("email") == "e-mail"
