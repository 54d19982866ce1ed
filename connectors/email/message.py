"""Raw RFC 5322 bytes → `ParsedEmail`: who, which thread, what is new, what is attached.

The full original text is kept for agents (`full_text`); NLU gets `new_text` only.
Attachments are described (name, type, size), never read as text.

Any mail is either parsed within a bounded time or refused with `UnparseableMail` (the
reader quarantines it). The standard library's parser costs time per line *per nesting
level* and its structured header parser is quadratic in a header's length (1 MB of folded
`From` took 76 s), so before parsing a linear scan of the raw bytes refuses what would be
slow, with limits far above real mail (the `MAX_*` below), and each header value is length-checked
before it is parsed.
"""
from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.headerregistry import UnstructuredHeader
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, Collection, Dict, List, Optional, Tuple

from connectors.email.authentication import from_is_authenticated
from connectors.email.html import html_to_text
from connectors.email.robots import robot_reason
from connectors.email.text import new_text, normalise_newlines

_MSGID = re.compile(r"<[^<>\s]+>")

# Postfix's default header_size_limit: mail relayed by Postfix never has more header bytes.
MAX_HEADER_BYTES = 102_400
MAX_LINES = 250_000            # 10 MB of base64 or quoted-printable is ~135k lines
MAX_LINE_LEVELS = 1_000_000    # lines × (1 + MIME containers): the parser's cost, ~0.3 s
MAX_PARTS = 256                # MIME boundary lines (one per part, one closing per multipart)
MAX_TEXT_HEADER_CHARS = 16_384  # one unstructured header (Subject, References, …)
MAX_FIELD_HEADER_CHARS = 4_096  # one structured header (addresses, Content-Type, Date, …)
MAX_FIELD_CHARS = 32_768        # all structured header values parsed for one mail (~0.3 s)
_CONTAINER = re.compile(rb"^content-type:[ \t]*(?:\r?\n[ \t]+)?(?:multipart|message)/",
                        re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class UnparseableMail(Exception):
    """A mail we cannot (or will not) parse; `reason` names why and never quotes the mail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Budget(threading.local):
    """The structured-header parsing one `parse_email` call may still spend (per thread:
    mail is parsed on executor threads), and the headers it already parsed."""
    remaining: Optional[int] = None
    parsed: Dict[Tuple[str, str], Any]


_budget = _Budget()


class _BoundedPolicy(EmailPolicy):
    """`policy.default` with a length check before each header is parsed: the structured
    parser costs ~10 µs per character and more on long address lists, and the email package
    parses a header again on every access (cached here for the mail being parsed)."""

    def header_fetch_parse(self, name, value):  # type: ignore[override]
        if _budget.remaining is None:
            return super().header_fetch_parse(name, value)
        key = (name.lower(), value)
        if key in _budget.parsed:
            return _budget.parsed[key]
        structured = not issubclass(self.header_factory.registry.get(key[0], UnstructuredHeader),
                                    UnstructuredHeader)
        if structured:
            if len(value) > MAX_FIELD_HEADER_CHARS:
                raise UnparseableMail(f"a structured header over {MAX_FIELD_HEADER_CHARS} characters")
            _budget.remaining -= len(value)
            if _budget.remaining < 0:
                raise UnparseableMail(f"structured headers over {MAX_FIELD_CHARS} characters")
        elif len(value) > MAX_TEXT_HEADER_CHARS:
            if key[0] != "references":
                raise UnparseableMail(f"a header over {MAX_TEXT_HEADER_CHARS} characters")
            tail = value[-MAX_TEXT_HEADER_CHARS:]  # oldest ids first: keep the newest
            value = tail[tail.find("<"):] if "<" in tail else ""
        parsed = _budget.parsed[key] = super().header_fetch_parse(name, value)
        return parsed


_POLICY = _BoundedPolicy()


def check_limits(raw: bytes) -> None:
    """Raise `UnparseableMail` for a mail whose parsing would be slow (linear scan)."""
    header_end = _HEADER_END.search(raw, 0, MAX_HEADER_BYTES + 4)
    if header_end is None and len(raw) > MAX_HEADER_BYTES:
        raise UnparseableMail(f"header section over {MAX_HEADER_BYTES} bytes")
    lines = raw.count(b"\n")
    if lines > MAX_LINES:
        raise UnparseableMail(f"more than {MAX_LINES} lines")
    if raw.count(b"\n--") > MAX_PARTS:
        raise UnparseableMail(f"more than {MAX_PARTS} MIME boundaries")
    if lines * (1 + len(_CONTAINER.findall(raw))) > MAX_LINE_LEVELS:
        raise UnparseableMail("too many lines for its MIME nesting")


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
    """The parsed mail, or `UnparseableMail` (whatever went wrong inside the parser).
    `trusted_authserv_ids`: EMAIL_AUTHSERV_ID; none given, no mail counts as authenticated."""
    check_limits(raw)
    _budget.remaining, _budget.parsed = MAX_FIELD_CHARS, {}
    try:
        return _parse(raw, trusted_authserv_ids)
    except UnparseableMail:
        raise
    except Exception as error:  # e.g. ValueError for an encoded CR/LF in a display name
        raise UnparseableMail(f"parser failed ({type(error).__name__})") from error
    finally:
        _budget.remaining, _budget.parsed = None, {}


def _parse(raw: bytes, trusted_authserv_ids: Collection[str]) -> ParsedEmail:
    msg = message_from_bytes(raw, policy=_POLICY)
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
