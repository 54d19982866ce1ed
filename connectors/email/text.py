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
_ATTRIBUTION_END = re.compile(r"(wrote|escreveu|escribió|a écrit|schrieb)\s*(?::\s*)?$", re.IGNORECASE)

_SEPARATORS = re.compile(
    r"^\s*(-{2,}\s*)?("
    r"original message|mensagem original|forwarded message|mensagem encaminhada|"
    r"begin forwarded message|in[ií]cio da mensagem encaminhada|reply above this line|"
    r"responda acima desta linha"
    r")\s*(?::\s*)?(?:-{2,}\s*)?$",
    re.IGNORECASE,
)
_UNDERSCORE_RULE = re.compile(r"^\s*_{10,}\s*$")

# Outlook / Apple Mail header blocks, bold markers from HTML conversion allowed ("*From:*").
# No two quantifiers in a row may match the same characters (`\s*\**\s*`, `\s*:?\s*`): on a
# run of tabs such a pattern backtracks quadratically (10k tabs took 2 s).
_HEADER_FROM = re.compile(r"^\s*(?:\*+\s*)?(from|de)\s*:\**\s*\S", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^\s*(?:\*+\s*)?(sent|date|to|subject|cc|enviad[oa](\s+em)?|data|para|assunto)\s*:", re.IGNORECASE
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

MAX_SCANNED_LINES = 2000
MAX_MARKER_CHARS = 200


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
        if len(joined) >= 300:
            return None
        if _ATTRIBUTION_END.search(joined):
            return span
        if index + span >= len(lines):
            return None
        joined = f"{joined} {lines[index + span].strip()}"
    return None


def _is_header_block(lines: List[str], index: int) -> bool:
    if not _HEADER_FROM.match(lines[index].lstrip("> ").lstrip()):
        return False
    following = [line.lstrip("> ").lstrip() for line in lines[index + 1:index + 6]]
    return sum(1 for line in following if _HEADER_OTHER.match(line)) >= 2


def history_start(lines: List[str]) -> int:
    """Index of the first line that belongs to quoted history or a signature (at most
    `MAX_SCANNED_LINES`: nobody types more above the quote)."""
    lines = lines[:MAX_SCANNED_LINES]
    for index, line in enumerate(lines):
        # Patterns see the line without surrounding whitespace: `^\s*` before alternatives
        # would retry every alternative at every position of a long run of tabs.
        # Separators and device signatures are short lines: a long one is never tried.
        probe = line.strip()
        marker = len(probe) <= MAX_MARKER_CHARS
        if (
            (marker and _SEPARATORS.match(probe))
            or _SIGNATURE_SEPARATOR.match(line)
            or (marker and _DEVICE_SIGNATURE.match(probe))
            or _is_attribution(lines, index) is not None
            or _is_header_block(lines, index)
            or (marker and _UNDERSCORE_RULE.match(probe) and any(_is_header_block(lines, i)
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
    lines = normalise_newlines(body).split("\n", MAX_SCANNED_LINES)[:MAX_SCANNED_LINES]
    kept = [line for line in lines[:history_start(lines)] if not _QUOTED.match(line)]
    return _tidy(kept)
