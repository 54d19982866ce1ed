"""A deterministic lexicon sentiment scorer for customer messages (English and Portuguese).

`score(text)` is in [-1, 1]: below `STRONG_NEGATIVE` a message is angry enough to hand over to
a person (the escalation trigger and the summary's trend use the same scale). It is a small
VADER-style scorer: word valences, negation flips, intensifiers, shouting and exclamation
marks, normalised with x / sqrt(x² + 15). No model, no network: the same text always scores
the same, so handoff decisions can be tested and explained.
"""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Dict, Iterable, List

from threadline.handoff.languages import ENGLISH_WORDS, Words, marked

STRONG_NEGATIVE = -0.75  # "angry": the handoff trigger's threshold
NEGATIVE = -0.3
POSITIVE = 0.35

# Valences on VADER's -4..4 scale. Keys are accent-free lower case without apostrophes.
LEXICON: Dict[str, float] = {
    # strong negative
    "worst": -3.2, "terrible": -3.0, "awful": -3.0, "horrible": -3.0, "disgusting": -3.2,
    "ridiculous": -2.8, "unacceptable": -3.0, "scam": -3.4, "fraud": -3.4, "furious": -3.4,
    "angry": -2.8, "outraged": -3.2, "useless": -2.6, "pathetic": -2.9, "incompetent": -2.9,
    "liars": -3.0, "lied": -2.6, "stole": -3.0, "robbed": -3.0, "sue": -2.6, "lawyer": -2.4,
    "hate": -3.0, "disgrace": -3.0, "shameful": -2.8, "joke": -1.6, "nightmare": -2.8,
    "pessimo": -3.2, "pessima": -3.2, "horrivel": -3.0, "ridiculo": -2.8, "ridicula": -2.8,
    "absurdo": -2.8, "inaceitavel": -3.0, "vergonha": -2.8, "lixo": -3.0, "golpe": -3.4,
    "fraude": -3.4, "enganado": -2.8, "enganada": -2.8, "raiva": -2.8, "furioso": -3.4,
    "furiosa": -3.4, "palhacada": -3.0, "descaso": -2.8, "procon": -2.6, "processar": -2.4,
    "odeio": -3.0, "incompetentes": -2.9, "mentira": -2.6, "roubo": -3.0,
    # negative
    "disappointed": -2.2, "disappointing": -2.2, "annoyed": -2.0, "frustrated": -2.2,
    "frustrating": -2.2, "upset": -2.0, "unhappy": -2.0, "bad": -1.8, "poor": -1.6,
    "broken": -1.8, "damaged": -1.8, "wrong": -1.4, "never": -0.8, "complaint": -1.8,
    "complain": -1.8, "problem": -1.2, "late": -1.2, "delay": -1.2, "delayed": -1.4,
    "missing": -1.4, "lost": -1.4, "waste": -2.2, "refund": -0.6, "cancel": -0.8,
    "sorry": -0.4, "worried": -1.4, "ignored": -2.2, "still": -0.4,
    "decepcionado": -2.2, "decepcionada": -2.2, "irritado": -2.0, "irritada": -2.0,
    "chateado": -2.0, "chateada": -2.0, "insatisfeito": -2.0, "insatisfeita": -2.0,
    "ruim": -1.8, "quebrado": -1.8, "quebrada": -1.8, "errado": -1.4, "errada": -1.4,
    "atrasado": -1.4, "atrasada": -1.4, "atraso": -1.4, "problema": -1.2, "reclamacao": -1.8,
    "demora": -1.2, "sumiu": -1.4, "perdido": -1.4, "nunca": -0.8, "ainda": -0.4,
    # positive
    "thanks": 1.8, "thank": 1.8, "great": 2.6, "love": 2.8, "perfect": 2.8, "awesome": 2.8,
    "good": 1.8, "happy": 2.4, "excellent": 2.9, "amazing": 2.9, "nice": 1.8, "glad": 2.0,
    "helpful": 2.0, "fine": 0.8, "ok": 0.4, "okay": 0.4, "appreciate": 2.0, "wonderful": 2.8,
    "obrigado": 1.8, "obrigada": 1.8, "valeu": 1.8, "otimo": 2.6, "otima": 2.6, "perfeito": 2.8,
    "perfeita": 2.8, "adorei": 2.8, "amei": 2.8, "excelente": 2.9, "legal": 1.6, "bom": 1.8,
    "boa": 1.6, "feliz": 2.4, "maravilhoso": 2.8, "top": 2.0,
}

# Multi-word expressions, scored as one term (accent-free lower case, no apostrophes).
PHRASES: Dict[str, float] = {
    "fed up": -2.6, "never again": -2.8, "waste of money": -3.0, "waste of time": -2.6,
    "rip off": -3.0, "ripped off": -3.0, "no one answers": -2.4, "nobody answers": -2.4,
    "falta de respeito": -3.0, "nunca mais": -2.8, "dinheiro jogado fora": -3.0,
    "ninguem responde": -2.4, "de novo": -0.8, "again and again": -1.8,
}

NEGATIONS = frozenset({
    "not", "no", "never", "dont", "didnt", "doesnt", "isnt", "wasnt", "arent", "cant", "cannot",
    "wont", "nao", "nem", "nenhum", "nenhuma", "without", "sem",
})
INTENSIFIERS = frozenset({
    "very", "so", "really", "extremely", "totally", "absolutely", "completely", "super",
    "incredibly", "muito", "muita", "demais", "extremamente", "totalmente", "completamente",
    "bem", "tao",
})

NEGATION_SCALE = -0.74
INTENSIFIER_BOOST = 0.293
CAPS_BOOST = 0.733
EXCLAMATION_BOOST = 0.292
ALPHA = 15.0
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _fold(text: str) -> str:
    """Lower case without accents, so "péssimo" and "pessimo" score alike."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


PHRASE_WORDS = {tuple(phrase.split()): value for phrase, value in PHRASES.items()}
LONGEST_PHRASE = max(len(words) for words in PHRASE_WORDS)


def _next_term(folded: List[str], start: int) -> tuple[int, float]:
    """(how many words, valence) of the phrase or word at `start`."""
    for size in range(min(LONGEST_PHRASE, len(folded) - start), 1, -1):
        value = PHRASE_WORDS.get(tuple(folded[start:start + size]))
        if value is not None:
            return size, value
    return 1, LEXICON.get(folded[start], 0.0)


def score(text: str) -> float:
    """Sentiment of one message in [-1, 1]; 0 for empty or neutral text."""
    words = _WORD.findall((text or "").replace("\u2019", "'"))
    folded = [_fold(w).replace("'", "") for w in words]
    letters = [w for w in words if len(w) > 2]
    # Shouting counts only when some words are not upper case: an all-caps message is a style.
    shouting = any(w.isupper() for w in letters) and not all(w.isupper() for w in letters)
    total, index = 0.0, 0
    while index < len(words):
        size, value = _next_term(folded, index)
        if value:
            term = " ".join(words[index:index + size])
            if shouting and term.isupper() and len(term) > 2:
                value += math.copysign(CAPS_BOOST, value)
            if index and folded[index - 1] in INTENSIFIERS:
                value += math.copysign(INTENSIFIER_BOOST * abs(value), value)
            if any(w in NEGATIONS for w in folded[max(0, index - 3):index]):
                value *= NEGATION_SCALE
            total += value
        index += size
    if total:
        total += math.copysign(min(text.count("!"), 4) * EXCLAMATION_BOOST, total)
    return round(total / math.sqrt(total * total + ALPHA), 4)


def label(value: float) -> str:
    """The word the summary shows for a score: pleased, calm, annoyed or angry."""
    if value <= STRONG_NEGATIVE:
        return "angry"
    if value <= NEGATIVE:
        return "annoyed"
    if value >= POSITIVE:
        return "pleased"
    return "calm"


# The labels from the worst mood to the best (marked: the summary shows them translated).
MOODS = (marked("angry"), marked("annoyed"), marked("calm"), marked("pleased"))


def trend(scores: Iterable[float], words: Words = ENGLISH_WORDS) -> str:
    """Like "calm → angry": the first mood, the worst one in between if different, the last."""
    labels = [label(s) for s in scores]
    if not labels:
        return words("no customer messages")
    steps = [labels[0]]
    worst = min(labels, key=MOODS.index)
    for name in (worst, labels[-1]):
        if name != steps[-1]:
            steps.append(name)
    if len(steps) == 1:
        return words("%(mood)s throughout", mood=words(steps[0]))
    return " → ".join(words(step) for step in steps)
