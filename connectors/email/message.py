"""Raw RFC 5322 bytes → `ParsedEmail`: who, which thread, what is new, what is attached.

The full original text is kept for agents (`full_text`); NLU gets `new_text` only.
Attachments are described (name, type, size), never read as text.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, Collection, Dict, List, Optional

from connectors.email.authentication import from_is_authenticated
from connectors.email.html import html_to_text
from connectors.email.robots import robot_reason
from connectors.email.text import new_text, normalise_newlines

_MSGID = re.compile(r"<[^<>\s]+>")


def message_ids(value: Optional[str]) -> List[str]:
    """Every `<id>` in a Message-ID / In-Reply-To / References header, in order."""
    return _MSGID.findall(str(value or ""))


def thread_ids(in_reply_to: List[str], references: List[str]) -> List[str]:
    """Ids naming the conversation, most specific first (the parent, then newest refs)."""
    return list(dict.fromkeys([*in_reply_to, *reversed(references)]))


@dataclass
class ParsedEmail:
    event_id: str            # Message-ID, or a content hash when the sender gave none
    message_id: Optional[str]
    sender: str              # lowercased addr-spec of From
    sender_name: Optional[str]
    subject: str
    in_reply_to: List[str]
    references: List[str]
    timestamp: Optional[float]
    full_text: str
    new_text: str
    attachments: List[Dict[str, Any]] = field(default_factory=list)
    authenticated: bool = False   # a trusted server saw DMARC pass, or DKIM pass aligned with From
    robot: Optional[str] = None   # why this mail must never be answered, if it must not

    @property
    def thread_ids(self) -> List[str]:
        return thread_ids(self.in_reply_to, self.references)


def _text_of(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeDecodeError):  # unknown or lying charset
        return (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")


def body_text(msg: EmailMessage) -> str:
    """The plain-text body; HTML-only mail is converted. Empty when there is no text."""
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    text = _text_of(body)
    if body.get_content_type() == "text/html":
        text = html_to_text(text)
    return normalise_newlines(text)


def attachments_of(msg: EmailMessage) -> List[Dict[str, Any]]:
    found = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        if name is None and part.get_content_disposition() != "attachment":
            continue
        payload = part.get_payload(decode=True) or b""
        found.append({"name": name or "", "type": part.get_content_type(), "size": len(payload)})
    return found


def authenticated(msg: EmailMessage, sender: str, trusted_authserv_ids: Collection[str]) -> bool:
    """Whether one of our receiving servers (`EMAIL_AUTHSERV_ID`) vouched for the From address
    (connectors/email/authentication.py). No trusted server named: never."""
    # The values as received: the policy's header objects parse in quadratic time (a 1 MB
    # header takes seconds), and this parser needs no decoding.
    headers = [value for name, value in msg.raw_items() if name.lower() == "authentication-results"]
    return from_is_authenticated(headers, sender, trusted_authserv_ids)


def _fallback_id(msg: EmailMessage, body: str) -> str:
    digest = hashlib.sha256()
    for name in ("From", "To", "Date", "Subject"):
        digest.update(str(msg.get(name, "")).encode("utf-8", "replace") + b"\0")
    digest.update(body.encode("utf-8", "replace"))
    return "sha256:" + digest.hexdigest()[:40]


def _timestamp(msg: EmailMessage) -> Optional[float]:
    try:
        return parsedate_to_datetime(str(msg["Date"])).timestamp() if msg["Date"] else None
    except (TypeError, ValueError):
        return None


def parse_email(raw: bytes, trusted_authserv_ids: Collection[str] = ()) -> ParsedEmail:
    msg = message_from_bytes(raw, policy=policy.default)
    name, address = (getaddresses([str(msg.get("From", ""))]) or [("", "")])[0]
    sender = address.strip().lower()
    full = body_text(msg)
    ids = message_ids(msg.get("Message-ID"))
    message_id = ids[0] if ids else None
    return ParsedEmail(
        event_id=message_id or _fallback_id(msg, full),
        message_id=message_id,
        sender=sender,
        sender_name=name or None,
        subject=str(msg.get("Subject", "")).strip(),
        in_reply_to=message_ids(msg.get("In-Reply-To")),
        references=message_ids(msg.get("References")),
        timestamp=_timestamp(msg),
        full_text=full,
        new_text=new_text(full),
        attachments=attachments_of(msg),
        authenticated=authenticated(msg, sender, trusted_authserv_ids),
        robot=robot_reason(msg, sender),
    )
