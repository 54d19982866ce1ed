"""The one shape every provider's webhook event is parsed into.

An `InboundEvent` is what the webhook stores in the inbox and what the consumer later acts
on. It is plain JSON so it survives a restart inside a Redis stream.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, Optional

from threadline.privacy.cpf import mask_cpfs

# What an event is, which decides what the consumer does with it.
MESSAGE = "message"          # customer input for the bot (text, payload, media, location...)
UNSUPPORTED = "unsupported"  # a message type the provider could not show us: polite answer
REACTION = "reaction"        # recorded, not answered
READ = "read"                # recorded, not answered
EDIT = "edit"                # recorded, not answered
DELETE = "delete"            # recorded, not answered
ECHO = "echo"                # our own outbound message echoed back: never fed to the bot
SYSTEM = "system"            # provider notice about the customer (e.g. changed number)
REFERRAL = "referral"        # customer opened the chat from an ad or link, no message yet
STATUS = "status"            # delivery status of one of our messages
TYPING = "typing"            # the customer is typing (RCS): recorded, not answered
RECORDED_ONLY = frozenset({REACTION, READ, EDIT, DELETE, ECHO, SYSTEM, REFERRAL, TYPING})


@dataclass
class InboundEvent:
    channel: str
    kind: str
    # Unique per provider event; the dedupe key. Provider message id for messages.
    event_id: str
    # The customer's exact address on this channel (wa_id, IGSID, E.164); "" for statuses.
    address: str = ""
    provider_message_id: Optional[str] = None
    timestamp: Optional[float] = None
    text: Optional[str] = None
    # Button / quick reply / postback payload: becomes the text Rasa sees.
    payload: Optional[str] = None
    # "text", "image", "location", "story_mention", ... as the provider named it.
    message_type: Optional[str] = None
    media: List[Dict[str, Any]] = field(default_factory=list)
    location: Optional[Dict[str, Any]] = None
    contacts: Optional[List[Dict[str, Any]]] = None
    profile_name: Optional[str] = None
    # Identity attributes for the resolver (e.g. WhatsApp wa_id and business-scoped user id).
    attributes: Dict[str, Any] = field(default_factory=dict)
    # Other provider content worth keeping (an order, SMS segment count...).
    details: Dict[str, Any] = field(default_factory=dict)
    reply_to: Optional[Dict[str, Any]] = None
    referral: Optional[Dict[str, Any]] = None
    # For reactions/reads/edits/deletes/statuses: the message the event is about.
    target_message_id: Optional[str] = None
    emoji: Optional[str] = None
    status: Optional[str] = None
    errors: Optional[List[Dict[str, Any]]] = None

    def with_cpfs_masked(self) -> "InboundEvent":
        """This event with the CPFs in its text and payload masked, as the inbox stores it."""
        return replace(self, text=self.text and mask_cpfs(self.text),
                       payload=self.payload and mask_cpfs(self.payload))

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "InboundEvent":
        return cls(**json.loads(raw))

    @property
    def order_key(self) -> str:
        """Events sharing this key are processed in arrival order."""
        return f"{self.channel}:{self.address or self.target_message_id or self.event_id}"

    def metadata(self) -> Dict[str, Any]:
        """What Rasa stores on the user event (no secrets; the address is needed to reply)."""
        meta: Dict[str, Any] = {
            "channel": self.channel,
            "address": self.address,
            "provider_message_id": self.provider_message_id,
            "message_type": self.message_type,
            "profile_name": self.profile_name,
        }
        for key in ("media", "location", "contacts", "reply_to", "referral", "payload", "details"):
            value = getattr(self, key)
            if value:
                meta[key] = value
        return meta
