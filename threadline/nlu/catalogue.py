"""The product and plan catalogue that conversation designers edit (data/catalogue/products.csv).

One row per product or plan: `kind` (product | plan), `name` (the canonical name the bot and
the CRM use) and `aliases` (other ways customers write it, separated by `|`). Matching is
case-insensitive, so aliases only need to differ in words, not in capitals.
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

KINDS = ("product", "plan")
COLUMNS = ("kind", "name", "aliases")


class CatalogueError(ValueError):
    """The catalogue file cannot be used; the message names the file and the row."""


@dataclass(frozen=True)
class CatalogueEntry:
    kind: str
    name: str
    aliases: Tuple[str, ...]

    def phrases(self) -> Tuple[str, ...]:
        """Every phrase that means this entry: its name and its aliases."""
        return (self.name, *self.aliases)

    def to_dict(self) -> Dict[str, object]:
        return {"kind": self.kind, "name": self.name, "aliases": list(self.aliases)}

    @classmethod
    def from_dict(cls, data: Dict[str, object]) -> "CatalogueEntry":
        return cls(str(data["kind"]), str(data["name"]), tuple(data["aliases"]))  # type: ignore[arg-type]


def load_catalogue(path: Path) -> List[CatalogueEntry]:
    """Read and check the catalogue; a phrase may mean only one entry."""
    if not path.is_file():
        raise CatalogueError(f"{path}: catalogue file not found")
    entries: List[CatalogueEntry] = []
    owner_of_phrase: Dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise CatalogueError(f"{path}: the header must be {','.join(COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            kind, name = (row["kind"] or "").strip(), (row["name"] or "").strip()
            if kind not in KINDS:
                raise CatalogueError(f"{path}:{line}: kind must be one of {KINDS}, not {kind!r}")
            if not name:
                raise CatalogueError(f"{path}:{line}: name is empty")
            aliases = tuple(a.strip() for a in (row["aliases"] or "").split("|") if a.strip())
            entry = CatalogueEntry(kind, name, aliases)
            for phrase in entry.phrases():
                key = phrase.lower()
                if owner_of_phrase.get(key, name) != name:
                    raise CatalogueError(
                        f"{path}:{line}: {phrase!r} already means {owner_of_phrase[key]!r}"
                    )
                owner_of_phrase[key] = name
            entries.append(entry)
    return entries


def catalogue_digest(path: Path) -> str:
    """A hash of the file, so Rasa retrains the extractor when only the catalogue changed."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
