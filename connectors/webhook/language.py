"""The language a bot message is written in, for the words a connector adds around it.

Connectors add a few words of their own: "Reply with the number of your choice." under numbered
options (SMS, email, and any channel that cannot show the buttons), the button that opens a
WhatsApp list, an email's greeting, sign-off and subject. They are said in the language of the
message they go with (threadline.i18n's catalogue), which reaches the output channel with the
message, in its keyword arguments:
- `language`, when whoever sent the message said it (the one-time code, connectors/code_sender.py);
- else the `language` slot condition of the domain response variant Rasa chose (domain.yml:
  `condition: [{type: slot, name: language, value: pt}]`): Rasa passes the chosen variant's
  keys on with its text, so a pt-BR variant says it is pt.
None when neither says (a text built by a custom action): the words stay English.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

LANGUAGE_SLOT = "language"


def message_language(kwargs: Mapping[str, Any]) -> Optional[str]:
    """The language ("pt", "en") of the message these output-channel kwargs came with, or None."""
    named = kwargs.get("language")
    if isinstance(named, str) and named:
        return named
    for condition in kwargs.get("condition") or []:
        if (isinstance(condition, Mapping) and condition.get("type") == "slot"
                and condition.get("name") == LANGUAGE_SLOT and isinstance(condition.get("value"), str)):
            return condition["value"]
    return None
