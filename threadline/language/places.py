"""Place names, which belong to no language: "do you ship to Portugal?" is English and "vocês
entregam em Portugal?" Portuguese, so the name must not vote, as the catalogue's names do not.

Countries come from CLDR (babel, pinned in requirements.txt) in the three languages we tell
apart ("Portugal", "Espanha", "Alemania"); Brazil's states, capitals and the cities customers
name most are written here by the team, with the spellings typed without accents ("sao paulo",
"goias"), except where that spelling is a word ("Pará" without its accent is "para").
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import FrozenSet, Iterable

from babel import Locale

LOCALES = ("en", "pt", "es")
# CLDR territories that are not a country someone ships to, or whose name is a word of the
# chat; codes of three digits ("Mundo", "Europe") are regions and are left out too.
NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"})  # XA, XB: pseudo-locales

BRAZIL = (
    # states
    "Acre", "Alagoas", "Amapá", "Amazonas", "Bahia", "Ceará", "Distrito Federal", "Espírito Santo",
    "Goiás", "Maranhão", "Mato Grosso", "Mato Grosso do Sul", "Minas Gerais", "Pará", "Paraíba", "Paraná",
    "Pernambuco", "Piauí", "Rio de Janeiro", "Rio Grande do Norte", "Rio Grande do Sul", "Rondônia",
    "Roraima", "Santa Catarina", "São Paulo", "Sergipe", "Tocantins",
    # capitals and large cities
    "Rio Branco", "Maceió", "Macapá", "Manaus", "Salvador", "Fortaleza", "Brasília", "Vitória",
    "Goiânia", "São Luís", "Cuiabá", "Campo Grande", "Belo Horizonte", "Belém", "João Pessoa",
    "Curitiba", "Recife", "Teresina", "Natal", "Porto Alegre", "Porto Velho", "Boa Vista",
    "Florianópolis", "Floripa", "Aracaju", "Palmas", "Campinas", "Guarulhos", "Niterói", "Santos",
    "Ribeirão Preto", "Uberlândia", "Sorocaba", "Joinville", "Londrina", "Juiz de Fora", "Osasco",
    "São Bernardo do Campo", "Santo André", "Feira de Santana", "Sampa",
    # other cities customers write from
    "Lisboa", "Lisbon", "Buenos Aires", "Montevideo", "Montevidéu", "Santiago", "Miami",
    "New York", "Nova York", "Nova Iorque", "London", "Londres", "Madrid", "Orlando",
)
# Kept only with the accent: without it they are words of the chat.
ACCENTED_ONLY = frozenset({"Pará", "Irã"})  # "para", "ira"
# Short forms of countries customers type ("us" is an English word, so it is not one).
ABBREVIATIONS = ("USA", "UK", "EUA")


def without_accents(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", name) if unicodedata.category(c) != "Mn")


def countries() -> Iterable[str]:
    for locale in LOCALES:
        for code, name in Locale.parse(locale).territories.items():
            if code.isalpha() and code not in NOT_COUNTRIES:
                yield name


@lru_cache(maxsize=1)
def place_names() -> FrozenSet[str]:
    """Every place name, as written and without accents."""
    names = {*countries(), *BRAZIL, *ABBREVIATIONS}
    return frozenset(names | {without_accents(name) for name in names if name not in ACCENTED_ONLY})
