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
None when neither says (a text built by a custom action). An email turn is one mail, framed
once: when none of its messages says, its words follow the customer's `language` slot as their
current session last set it (`customer_language`; Rasa saved the turn before the mail goes).
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from threadline.conversation.event_log import CustomerEventLog

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


async def customer_language(log: CustomerEventLog, customer_id: str) -> Optional[str]:
    """The `language` slot's latest value in the customer's current session, None if unset."""
    session = await log.current_session(customer_id) if customer_id else None
    for raw in reversed(session.events if session else []):
        event = json.loads(raw)
        if event.get("event") == "slot" and event.get("name") == LANGUAGE_SLOT:
            return event.get("value")
    return None
