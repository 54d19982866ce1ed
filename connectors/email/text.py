"""The new text of a reply: quoted history and signatures removed, English and Portuguese.

`new_text(body)` cuts the body at the first line where the history starts (a "wrote:" /
"escreveu:" attribution, an Outlook header block, "-----Original Message-----", a forwarded
marker), at a "-- " signature separator or at a phone/app signature ("Sent from my iPhone",
"Enviado do meu iPhone", "Get Outlook for iOS"); it drops "> " quoted lines. Sign-offs such
as "Obrigada, Ana" are kept: they are the customer's words and harmless to NLU, while cutting
at "Thanks," would lose "Thanks, but the order never came".

mail-parser-reply was measured on the same corpus and rejected: it has no Portuguese and
cuts at "Thanks,"/"Best," lines (see docs/email.md for the figures).
"""
from __future__ import annotations

import re
from typing import List, Optional

_ATTRIBUTION_START = re.compile(r"^\s*(on|em|no dia|el|le|am)\b", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(r"(wrote|escreveu|escribió|a écrit|schrieb)\s*:?\s*$", re.IGNORECASE)

_SEPARATORS = re.compile(
    r"^\s*(-{2,}\s*)?("
    r"original message|mensagem original|forwarded message|mensagem encaminhada|"
    r"begin forwarded message|in[ií]cio da mensagem encaminhada|reply above this line|"
    r"responda acima desta linha"
    r")\s*:?\s*(-{2,})?\s*$",
    re.IGNORECASE,
)
_UNDERSCORE_RULE = re.compile(r"^\s*_{10,}\s*$")

# Outlook / Apple Mail header blocks, bold markers from HTML conversion allowed ("*From:*").
_HEADER_FROM = re.compile(r"^\s*\**\s*(from|de)\s*:\**\s*\S", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^\s*\**\s*(sent|date|to|subject|cc|enviad[oa](\s+em)?|data|para|assunto)\s*:", re.IGNORECASE
)

_SIGNATURE_SEPARATOR = re.compile(r"^--\s*$")
_DEVICE_SIGNATURE = re.compile(
    r"^\s*("
    r"sent from my \S.{0,40}|sent from (outlook|mail|yahoo|gmail|samsung)\b.{0,40}|"
    r"get outlook for \S.{0,30}|"
    r"enviado (do|de) (meu|minha) \S.{0,40}|"
    r"enviado (do|pelo|a partir do) (outlook|email|e-mail|yahoo|gmail|aplicativo)\b.{0,40}|"
    r"obter o outlook para \S.{0,30}|baixe o outlook para \S.{0,30}"
    r")\s*$",
    re.IGNORECASE,
)

_QUOTED = re.compile(r"^\s*>")


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")


def _is_attribution(lines: List[str], index: int) -> Optional[int]:
    """Number of lines (1-3) of an "On … wrote:" attribution starting here, else None.

    Gmail wraps long attributions ("… Loja <\\nloja@x.com> escreveu:") over two lines."""
    first = lines[index].lstrip("> ").strip()
    if not _ATTRIBUTION_START.match(first):
        return None
    joined = first
    for span in range(1, 4):
        if _ATTRIBUTION_END.search(joined) and len(joined) < 300:
            return span
        if index + span >= len(lines):
            return None
        joined = f"{joined} {lines[index + span].strip()}"
    return None


def _is_header_block(lines: List[str], index: int) -> bool:
    if not _HEADER_FROM.match(lines[index].lstrip("> ")):
        return False
    following = [line.lstrip("> ") for line in lines[index + 1:index + 6]]
    return sum(1 for line in following if _HEADER_OTHER.match(line)) >= 2


def history_start(lines: List[str]) -> int:
    """Index of the first line that belongs to quoted history or a signature."""
    for index, line in enumerate(lines):
        if (
            _SEPARATORS.match(line)
            or _SIGNATURE_SEPARATOR.match(line)
            or _DEVICE_SIGNATURE.match(line)
            or _is_attribution(lines, index) is not None
            or _is_header_block(lines, index)
            or (_UNDERSCORE_RULE.match(line) and any(_is_header_block(lines, i)
                                                     for i in range(index + 1, min(index + 3, len(lines)))))
        ):
            return index
    return len(lines)


def _tidy(lines: List[str]) -> str:
    out: List[str] = []
    for line in (line.rstrip() for line in lines):
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip()


def new_text(body: str) -> str:
    """What the sender wrote in this message, without history or signature."""
    lines = normalise_newlines(body).split("\n")
    kept = [line for line in lines[:history_start(lines)] if not _QUOTED.match(line)]
    return _tidy(kept)
