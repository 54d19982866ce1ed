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
from typing import Any, Dict, List, Optional

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
    authenticated: bool = False   # DMARC pass, or DKIM pass for the From domain
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


def authenticated(msg: EmailMessage, sender: str) -> bool:
    """Whether our receiving server vouched for the From domain.

    Only meaningful when the mailbox's own server adds Authentication-Results and strips
    forged ones (Gmail, Microsoft 365, Dovecot+rspamd/OpenDMARC all do)."""
    domain = sender.rpartition("@")[2]
    for header in msg.get_all("Authentication-Results", []):
        text = str(header).lower()
        if re.search(r"\bdmarc=pass\b", text):
            return True
        for match in re.finditer(r"\bdkim=pass\b[^;]*", text):
            signer = re.search(r"header\.[di]=@?([^\s;]+)", match.group(0))
            if signer and (domain == signer.group(1) or domain.endswith("." + signer.group(1))):
                return True
    return False


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


def parse_email(raw: bytes) -> ParsedEmail:
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
        authenticated=authenticated(msg, sender),
        robot=robot_reason(msg, sender),
    )
