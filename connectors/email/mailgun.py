"""Mailgun inbound routes (optional): the raw mail from a signed POST.

Configure a Mailgun route with `forward("https://<host>/webhooks/email/mailgun/mime")`: a URL
ending in "mime" makes Mailgun post the untouched message as `body-mime`, so it goes through
exactly the same parsing, robot rules and dedupe as mail read over IMAP. Mailgun signs each
POST: `signature` = hex HMAC-SHA256(signing key, `timestamp` + `token`). A replayed POST
carries the same mail, which the inbox dedupes by Message-ID.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Mapping


class MailgunRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def verified_mime(form: Mapping[str, str], signing_key: str) -> bytes:
    """The posted mail's bytes, or `MailgunRejected` (403 bad signature, 406 no usable mail:
    406 is the answer that stops Mailgun's retries)."""
    timestamp, token, signature = (form.get(k) or "" for k in ("timestamp", "token", "signature"))
    if not (timestamp and token and signature):
        raise MailgunRejected(403, "missing Mailgun signature fields")
    expected = mailgun_signature(signing_key, timestamp, token)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise MailgunRejected(403, "invalid Mailgun signature")
    mime = form.get("body-mime")
    if not mime:
        raise MailgunRejected(406, "no body-mime: the route URL must end in /mime")
    return mime.encode("utf-8", "surrogateescape")
