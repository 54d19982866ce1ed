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
from typing import Dict, FrozenSet, Iterable, Optional, Tuple

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
    i i'm you your
    my order where when what why how can could would should is are was the it this that
    still yet got help agent human refund cancel track tracking parcel package
    morning evening night good
""".split())

SPANISH = frozenset("""
    hola gracias buenas buenos adios adiós usted ustedes quiero necesito tengo
    hablar persona llegó llego todavía cuánto cuanto dónde donde envío
""".split())

# Telling Portuguese from Spanish, which share most words ("pedido", "comprar", "cancelar",
# "dia", "por favor"): words only one of the two has. A Brazilian called Spanish is told we do
# not speak their language, the costliest mistake, so a message is Spanish only when it has
# more of these Spanish words than Portuguese ones (threadline.language.detect).
PORTUGUESE_NOT_SPANISH = frozenset("""
    não nao ñ naum você voce vc vcs do da dos das na nas num numa um uma umas uns com sem
    meu minha meus minhas seu sua seus suas é eu ele ela eles elas isso esse essa esses essas
    isto aquilo tô tá ta tava tou estou vou sou tem têm tenho pra pras pro pros novo nova
    obrigado obrigada obg obgd vlw valeu blz beleza quero onde quando quanto quanta
    qual quais ainda agora hoje ontem amanhã amanha também tambem tbm muito muita mais ou até
    já cadê cade oi olá ola oie eai tchau pq porque q oq kd mim
""".split())

SPANISH_NOT_PORTUGUESE = frozenset("""
    el los las del y una unas unos pero muy hay usted ustedes quiero quieres necesito
    tengo tiene tienen puedo puedes puede pueden hablar persona gracias hola buenas buenos bien
    señor señora también tambien todavía aún ayer mañana cuando cuándo cuanto cuánto donde dónde
    cuál cuales mi mis yo soy estoy voy son hace hacer nuevo nueva bueno llegó llego llega
    envío envíos ahora aquí entonces con sin ya le lo les dinero adios adiós
""".split())

ORTHOGRAPHY = {
    # ç, ã, õ, ê, ô and the digraphs nh, lh are Portuguese; ñ and ll are Spanish.
    "pt": re.compile(r"[çãõêô]|\w(nh|lh)\w|ção$|ções$"),
    "es": re.compile(r"\wñ|ñ\w|\wll|ción$|ciones$"),
}
INVERTED_MARKS = re.compile(r"[¿¡]")  # Spanish questions and exclamations: "¿cuánto?"

# No language at all: acknowledgements and noises every customer types.
NEUTRAL = frozenset("ok okay okey okk kk hm hmm hmmm ah ahh oh ohh uh aha hehe".split())

PATTERNS: Dict[str, "re.Pattern[str]"] = {
    "pt": re.compile(r"^(k{3,}|(rs)+)$"),  # kkkk, rsrs
    "es": re.compile(r"^(ja){2,}j?$"),  # jajaja
    "none": re.compile(r"^(ha){2,}h?$|^(he){2,}h?$|^o+k+$|^h+m+$"),  # haha, hehe, okkk, hmmm
}

WORDS: Dict[str, FrozenSet[str]] = {"pt": PORTUGUESE, "en": ENGLISH, "es": SPANISH}


def iberian_marks(text: str, words: Iterable[str]) -> Tuple[int, int]:
    """(Portuguese, Spanish): how many of the message's words (and marks) only that one of the
    two languages has."""
    portuguese, spanish = 0, len(INVERTED_MARKS.findall(text))
    for word in words:
        portuguese += word in PORTUGUESE_NOT_SPANISH or bool(ORTHOGRAPHY["pt"].search(word))
        spanish += word in SPANISH_NOT_PORTUGUESE or bool(ORTHOGRAPHY["es"].search(word))
    return portuguese, spanish


def language_of_word(word: str) -> Optional[str]:
    """"pt", "en", "es", "none" (a word of no language) or None (not a chat word we know)."""
    if word in NEUTRAL or PATTERNS["none"].match(word):
        return "none"
    for language, pattern in PATTERNS.items():
        if language != "none" and pattern.match(word):
            return language
    known = [language for language, words in WORDS.items() if word in words]
    return known[0] if len(known) == 1 else None
