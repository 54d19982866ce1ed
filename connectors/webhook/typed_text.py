r"""Customer text as Rasa may see it: words, never an "/intent" command.

Rasa 3.6 reads a message as a command when its text, after `str.strip()`, starts with "/"
(`YAMLStoryReader.unpack_regex_message`, which `RegexMessageHandler` runs at the end of every
NLU graph): "/restart" restarts the conversation and `/provide_contact{"email": "…"}` sets
entities, and through them slots, at confidence 1. Only the bot's own payloads may do that
(connectors/webhook/offers.py); whatever a customer typed goes through `typed_text_for_nlu`.

Stripping "/" once is not enough: "/ /restart" is "/restart" again after Rasa's strip, and a
zero-width, bidi or fullwidth prefix ("\u200b/restart", "／restart") would become a command as
soon as any layer normalises the text (NFKC, invisible characters dropped). So the whole
leading run of characters that are invisible, or that NFKC turns into "/", is dropped; the
rest of the customer's words is kept exactly as typed for NLU and the agents, except CPFs:
every channel's typed text passes here on its way to Rasa, so this is where a CPF is masked
("***.456.789-**", threadline/privacy/cpf.py) before the tracker, the CRM timeline, the logs
or a handoff summary can hold it.
"""
from __future__ import annotations

import logging

import regex

from threadline.privacy.cpf import mask_cpfs

log = logging.getLogger(__name__)

# What may stand before the customer's first word without showing, or hide the prefix:
# - controls, formatting characters (zero-width space and joiners U+200B-U+200D, word joiner
#   U+2060, BOM U+FEFF, bidi controls), every separator (NBSP, ideographic space...) and
#   combining marks (any kind) with no letter to sit on; this covers all that `str.strip()` strips;
# - Hangul fillers, letters by category that render as blank space;
# - "/" and its fullwidth form U+FF0F, the only characters NFKC turns into one;
# - compatibility characters (spacing accents, Arabic presentation marks) that NFKC turns
#   into a space and combining marks only.
# tests/security/test_typed_commands.py checks the last two groups against all of Unicode.
_NFKC_INVISIBLE = (
    "\u00a8\u00af\u00b4\u00b8\u02d8-\u02dd\u037a\u0384\u0385\u1fbd\u1fbf-\u1fc1\u1fcd-\u1fcf"
    "\u1fdd-\u1fdf\u1fed\u1fee\u1ffd\u1ffe\u2017\u203e\u309b\u309c\ufc5e-\ufc63\ufe49-\ufe4c"
    "\ufe70\ufe72\ufe74\ufe76\ufe78\ufe7a\ufe7c\ufe7e\uff9e\uff9f\uffe3"
)
_LEADING_NOISE = regex.compile(
    "[\\s\\p{Cc}\\p{Cf}\\p{Z}\\p{M}\u115f\u1160\u3164\uffa0/\uff0f" + _NFKC_INVISIBLE + "]+")
_PREFIXES = regex.compile("[/\uff0f]")  # rasa.shared.constants.INTENT_MESSAGE_PREFIX and U+FF0F


def typed_text_for_nlu(text: str) -> str:
    """`text` without its leading run of invisible characters and slashes ("" if nothing is
    left), so that neither Rasa nor any Unicode normalisation reads it as "/intent", and with
    its CPFs masked."""
    noise = _LEADING_NOISE.match(text)
    if noise is None:
        return mask_cpfs(text)
    if _PREFIXES.search(noise.group()):
        log.info("typed text began with an intent command prefix: neutralised, NLU reads it as words")
    return mask_cpfs(text[noise.end():])
