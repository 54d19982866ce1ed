"""Chat words the statistical detector misreads, written by the Threadline team.

lingua's models come from edited text: on one or two words of Brazilian WhatsApp ("obg",
"vlw", "blz") it answers English or Spanish. These lists decide a short message when all its
known words agree. A word English has too ("no", "a", "to", "pro", "show", "yo") is left
out: it would switch customers between the two languages we speak. Words Portuguese shares
with Spanish ("dia", "cancelar") stay in the Portuguese list, which Brazilian customers need
far more; Spanish sentences are lingua's to tell.
"""
from __future__ import annotations

import re
from typing import Dict, FrozenSet, Optional

PORTUGUESE = frozenset("""
    oi oii oiii oie oiee ola olá opa eai eae salve tchau tchauzinho flw falou
    obg obgd obgda obgdo brigado brigada obrigado obrigada obrigadão vlw valeu valeuu
    blz blza beleza suave tranquilo joia
    vc vcs voce você voces vocês pq porque qdo qnd quando qnto quanto qto td tds tudo
    tb tbm tambem também hj amanha amanhã ontem agr agora msm mesmo mt mto muito muita
    kd cade cadê pfv pfvr pf porfavor
    sim nao não ñ naum ta tá tô tava tou pra pras q oq cmg ctz certeza
    bom boa dia tarde noite bem certo entendi massa
    meu minha meus minhas pedido pedidos entrega reembolso troca trocar cancelar atendente
    ainda chegou quero queria preciso pode ser aqui isso esse essa
""".split())

ENGLISH = frozenset("""
    hi hey hello hiya bye goodbye cya thanks thank thx ty tysm thnx pls plz please
    yes yeah yep yup nope nah sure okie cool great awesome
    u ur r idk lol btw asap omg imo tbh nvm dunno wanna gonna gotta
    my order where when what why how can could would should is are was the it this that
    still yet got help agent human refund cancel track tracking parcel package
    morning evening night good
""".split())

SPANISH = frozenset("""
    hola gracias buenas buenos adios adiós usted ustedes quiero necesito tengo
    hablar persona favor llegó llego todavía cuánto cuanto dónde donde envío
""".split())

# No language at all: acknowledgements and noises every customer types.
NEUTRAL = frozenset("ok okay okey okk kk hm hmm hmmm ah ahh oh ohh uh aha hehe".split())

PATTERNS: Dict[str, "re.Pattern[str]"] = {
    "pt": re.compile(r"^(k{3,}|(rs)+)$"),  # kkkk, rsrs
    "es": re.compile(r"^(ja){2,}j?$"),  # jajaja
    "none": re.compile(r"^(ha){2,}h?$|^(he){2,}h?$|^o+k+$|^h+m+$"),  # haha, hehe, okkk, hmmm
}

WORDS: Dict[str, FrozenSet[str]] = {"pt": PORTUGUESE, "en": ENGLISH, "es": SPANISH}


def language_of_word(word: str) -> Optional[str]:
    """"pt", "en", "es", "none" (a word of no language) or None (not a chat word we know)."""
    if word in NEUTRAL or PATTERNS["none"].match(word):
        return "none"
    for language, pattern in PATTERNS.items():
        if language != "none" and pattern.match(word):
            return language
    known = [language for language, words in WORDS.items() if word in words]
    return known[0] if len(known) == 1 else None
