"""Gettext catalogues kept as .po files and compiled in memory when first used (issue #16):
the repository holds only what people write, never a generated .mo."""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations


def compiled(po_path: Path, locale: str, domain: str) -> Translations:
    with po_path.open("rb") as po:
        catalog = read_po(po, locale=locale, domain=domain)
    binary = BytesIO()
    write_mo(binary, catalog)
    binary.seek(0)
    return Translations(binary, domain=domain)
