"""Mailgun inbound routes (optional): the raw mail from a signed POST.

Configure a Mailgun route with `forward("https://<host>/webhooks/email/mailgun/mime")`: a URL
ending in "mime" makes Mailgun post the untouched message as `body-mime`, so it goes through
exactly the same parsing, robot rules and dedupe as mail read over IMAP. Mailgun signs each
POST: `signature` = hex HMAC-SHA256(signing key, `timestamp` + `token`).

Replay: the signature covers only the timestamp and token, so a captured POST stays valid
forever unless both are checked. A timestamp more than `WINDOW_S` from our clock (either
way) is refused here; the channel accepts each token once within the window
(`EmailState.first_use_of_mailgun_token`, Redis SET NX EX `TOKEN_TTL_S`), as Mailgun's
documentation recommends.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import time
from typing import Mapping, Optional

WINDOW_S = 300
TOKEN_TTL_S = 2 * WINDOW_S  # a token may arrive WINDOW_S early and still be fresh WINDOW_S later


class MailgunRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def verified_mime(form: Mapping[str, str], signing_key: str, now: Optional[float] = None) -> bytes:
    """The posted mail's bytes, or `MailgunRejected` (403 bad signature or stale timestamp,
    406 no usable mail: 406 is the answer that stops Mailgun's retries)."""
    timestamp, token, signature = (form.get(k) or "" for k in ("timestamp", "token", "signature"))
    if not (timestamp and token and signature):
        raise MailgunRejected(403, "missing Mailgun signature fields")
    expected = mailgun_signature(signing_key, timestamp, token)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise MailgunRejected(403, "invalid Mailgun signature")
    if not fresh(timestamp, time.time() if now is None else now):
        raise MailgunRejected(403, f"Mailgun timestamp outside the {WINDOW_S} s window (replay?)")
    mime = form.get("body-mime")
    if not mime:
        raise MailgunRejected(406, "no body-mime: the route URL must end in /mime")
    return mime.encode("utf-8", "surrogateescape")


def fresh(timestamp: str, now: float) -> bool:
    try:
        signed_at = float(timestamp)
    except ValueError:
        return False
    return math.isfinite(signed_at) and abs(now - signed_at) <= WINDOW_S
