"""The REST channel (`/webhooks/rest/webhook`) with senders in a namespace of their own.

Rasa's RestInput uses the posted `sender` as the conversation id, and conversation ids are
customer ids (`cus_…`): anyone who could reach the endpoint and knew an id would chat as that
customer and read the answers. Here `{"sender": X}` always talks in the conversation
`rest:X`, which no channel's customer can ever have, so a REST client can neither read nor
write a customer's conversation, whatever it sends. The client cannot pick the input channel
or the message metadata either: the actions read the channel from there.

The endpoint stays for local testing and for a web front end of your own behind a proxy;
it has no authentication, so keep it off the internet (README: reverse proxy).
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, Optional, Text

from rasa.core.channels.rest import RestInput
from sanic.exceptions import InvalidUsage
from sanic.request import Request

from connectors.webhook.typed_text import typed_text_for_nlu

PREFIX = "rest:"
MAX_SENDER_ID = 40  # the CRM's customer_id column (the timeline worker records REST chats too)


def rest_sender_id(sender: str) -> str:
    """The conversation id for a REST `sender`: `rest:<sender>`, or, when that would not fit
    the CRM's id column, `rest:` and a digest of it (the same sender always maps the same)."""
    sender_id = PREFIX + sender
    if len(sender_id) <= MAX_SENDER_ID:
        return sender_id
    return PREFIX + hashlib.blake2b(sender.encode(), digest_size=16).hexdigest()


def _body(request: Request) -> Dict[str, Any]:
    body = request.json
    if not isinstance(body, dict):
        raise InvalidUsage("the body must be a JSON object with sender and message")
    return body


class NamespacedRestInput(RestInput):
    """RestInput whose senders are `rest:` ids (see the module docstring); same URL and answers."""

    async def _extract_sender(self, request: Request) -> Optional[Text]:
        sender = _body(request).get("sender")
        if not isinstance(sender, str) or not sender.strip() or not sender.isprintable():
            raise InvalidUsage("sender must be a non-empty string of printable characters")
        return rest_sender_id(sender)

    def _extract_message(self, request: Request) -> Optional[Text]:
        message = _body(request).get("message")
        if not isinstance(message, str):
            raise InvalidUsage("message must be a string")
        # REST offers no buttons, so nothing it sends is a payload: all of it is typed text.
        return typed_text_for_nlu(message)

    def _extract_input_channel(self, request: Request) -> Text:
        return self.name()

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return None
