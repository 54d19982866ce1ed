"""Signed CSAT rating links in email (issue #17): five links under the question, one per score.

A link is `<CSAT_LINK_BASE_URL>/csat/<token>?score=N`. The token is
`base64url("<customer id>|<question id>|<expires at, unix s>")` + "." + base64url(HMAC-SHA256 of
that text with CSAT_LINK_SECRET); it expires LINK_DAYS (7) after the question, when the
question stops taking answers (threadline/insights/csat.py QUIET_DAYS). The score is not
signed: whoever holds the customer's link may choose any of the five, as the customer can.
The secret comes from CSAT_LINK_SECRET, else from var/csat_link_secret (generated once, mode
0600, shared by every process of `make run` on this machine). Pure functions apart from the
secret's file: the page and the single use are in csat_page.py.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional
from urllib.parse import urlencode

from threadline.settings import PROJECT_DIR

LINK_DAYS = 7
SECRET_ENV = "CSAT_LINK_SECRET"
BASE_URL_ENV = "CSAT_LINK_BASE_URL"
SECRET_FILE = "csat_link_secret"
_SEPARATOR = "|"


class BadLink(Exception):
    """A token that is not ours (`forged`), unreadable (`malformed`) or too old (`expired`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaim:
    customer_id: str
    question_id: int
    expires_at: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())


def sign(secret: str, customer_id: str, question_id: int, expires_at: int) -> str:
    body = _b64(_SEPARATOR.join((customer_id, str(question_id), str(expires_at))).encode())
    return f"{body}.{_mac(secret, body)}"


def verify(secret: str, token: str, now: Optional[float] = None) -> LinkClaim:
    """The claim of a token we signed that has not expired; else `BadLink`."""
    body, dot, mac = (token or "").partition(".")
    if not dot or not body or not mac:
        raise BadLink("malformed")
    if not hmac.compare_digest(_mac(secret, body), mac):  # constant time: no byte-by-byte oracle
        raise BadLink("forged")
    try:
        customer_id, question_id, expires_at = _unb64(body).decode().split(_SEPARATOR)
        claim = LinkClaim(customer_id, int(question_id), int(expires_at))
    except ValueError:
        raise BadLink("malformed")  # signed by us yet unreadable: only an older format could
    if (time.time() if now is None else now) >= claim.expires_at:
        raise BadLink("expired")
    return claim


def link_secret(var_dir: Optional[Path] = None) -> str:
    """CSAT_LINK_SECRET, else the one generated into var/ (the first process to need it writes it)."""
    configured = os.environ.get(SECRET_ENV, "").strip()
    if configured:
        return configured
    path = (var_dir or Path(os.environ.get("THREADLINE_VAR_DIR") or PROJECT_DIR / "var")) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two processes starting together keep the first one's secret
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def default_base_url() -> str:
    """CSAT_LINK_BASE_URL (the email channel's public webhook address), else this machine's Rasa server."""
    configured = os.environ.get(BASE_URL_ENV, "").strip().rstrip("/")
    return configured or f"http://127.0.0.1:{os.environ.get('RASA_PORT') or 5005}/webhooks/email"


@dataclass(frozen=True)
class CsatLinks:
    secret: str
    base_url: str

    @classmethod
    def from_env(cls) -> "CsatLinks":
        return cls(link_secret(), default_base_url())

    def for_question(self, customer_id: str, question_id: int, scores: List[int],
                     now: Optional[float] = None) -> List[str]:
        """One link per score, in the order of `scores`."""
        expires_at = int(time.time() if now is None else now) + LINK_DAYS * 86400
        token = sign(self.secret, customer_id, question_id, expires_at)
        return [f"{self.base_url}/csat/{token}?{urlencode({'score': score})}" for score in scores]
