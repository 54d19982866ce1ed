"""EMAIL_* settings (docs/architecture.md): credentials.yml values first, then the environment."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Dict, Optional

from connectors.email.authentication import parse_authserv_ids
from connectors.webhook.config import ChannelNotConfigured, value

SECURITY_MODES = ("ssl", "starttls", "none")
DEFAULT_MAX_BYTES = 10_000_000  # EMAIL_MAX_BYTES: larger mail is quarantined, never fetched
# EMAIL_BACKLOG_HOURS: on the reader's first start, unseen mail this recent is answered; older
# unseen mail is recorded unanswered for an agent.
DEFAULT_BACKLOG_HOURS = 24.0


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    user: str
    password: str
    security: str


@dataclass(frozen=True)
class EmailSettings:
    address: str
    imap: Optional[ServerSettings]  # None: mail arrives only through the Mailgun webhook
    mailbox: str
    smtp: ServerSettings
    mailgun_signing_key: str = ""
    # EMAIL_AUTHSERV_ID: receiving servers whose Authentication-Results are believed. Empty:
    # no mail counts as written by its From address (every sender is an unverified contact).
    authserv_ids: frozenset = frozenset()
    max_bytes: int = DEFAULT_MAX_BYTES
    backlog_hours: float = DEFAULT_BACKLOG_HOURS

    @property
    def mailbox_key(self) -> str:
        """Names this mailbox in Redis (cursor): account, server and folder."""
        imap = self.imap
        return f"{imap.user}@{imap.host}:{imap.port}/{self.mailbox}" if imap else ""

    @staticmethod
    def configured(credentials: Optional[Dict[str, Any]]) -> bool:
        """Whether any EMAIL_* server setting is given (then all required ones must be)."""
        return any(value(credentials, key, env) for key, env in (
            ("address", "EMAIL_ADDRESS"), ("imap_host", "EMAIL_IMAP_HOST"), ("smtp_host", "EMAIL_SMTP_HOST"),
            ("mailgun_signing_key", "EMAIL_MAILGUN_SIGNING_KEY")))

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "EmailSettings":
        get = lambda key, env, default="": value(credentials, key, env, default)  # noqa: E731
        address = get("address", "EMAIL_ADDRESS").lower()
        imap_host = get("imap_host", "EMAIL_IMAP_HOST")
        smtp_host = get("smtp_host", "EMAIL_SMTP_HOST")
        mailgun_key = get("mailgun_signing_key", "EMAIL_MAILGUN_SIGNING_KEY")
        missing = [name for name, val in (("EMAIL_ADDRESS", address), ("EMAIL_IMAP_HOST", imap_host or mailgun_key),
                                          ("EMAIL_SMTP_HOST", smtp_host)) if not val]
        if missing:
            raise ChannelNotConfigured(f"email: {', '.join(missing)} not set; the email channel "
                                       "cannot start (remove it from credentials.yml to disable it)")
        imap_security = _security("EMAIL_IMAP_SECURITY", get("imap_security", "EMAIL_IMAP_SECURITY", "ssl"))
        smtp_security = _security("EMAIL_SMTP_SECURITY", get("smtp_security", "EMAIL_SMTP_SECURITY", "starttls"))
        imap = imap_host and ServerSettings(
            host=imap_host,
            port=_port("EMAIL_IMAP_PORT", get("imap_port", "EMAIL_IMAP_PORT"),
                       993 if imap_security == "ssl" else 143),
            user=get("imap_user", "EMAIL_IMAP_USER", address),
            password=get("imap_password", "EMAIL_IMAP_PASSWORD"),
            security=imap_security,
        )
        smtp = ServerSettings(
            host=smtp_host,
            port=_port("EMAIL_SMTP_PORT", get("smtp_port", "EMAIL_SMTP_PORT"),
                       {"ssl": 465, "starttls": 587, "none": 25}[smtp_security]),
            user=get("smtp_user", "EMAIL_SMTP_USER"),
            password=get("smtp_password", "EMAIL_SMTP_PASSWORD"),
            security=smtp_security,
        )
        for name, server in (("IMAP", imap), ("SMTP", smtp)):
            if server and server.security == "none" and not is_loopback(server.host):
                # Passwords and mail would cross the network in clear text: refuse, not warn.
                raise ChannelNotConfigured(
                    f"email: EMAIL_{name}_SECURITY=none is only for a server on loopback, and "
                    f"EMAIL_{name}_HOST is {server.host}; use ssl or starttls")
        return cls(address=address, imap=imap or None, mailbox=get("imap_mailbox", "EMAIL_IMAP_MAILBOX", "INBOX"),
                   smtp=smtp, mailgun_signing_key=mailgun_key,
                   authserv_ids=parse_authserv_ids(get("authserv_id", "EMAIL_AUTHSERV_ID")),
                   max_bytes=_max_bytes(get("max_bytes", "EMAIL_MAX_BYTES")),
                   backlog_hours=_backlog_hours(get("backlog_hours", "EMAIL_BACKLOG_HOURS")))


def _security(env: str, raw: str) -> str:
    mode = raw.lower()
    if mode not in SECURITY_MODES:
        raise ChannelNotConfigured(f"email: {env} must be one of {', '.join(SECURITY_MODES)}, got {raw!r}")
    return mode


def _port(env: str, raw: str, default: int) -> int:
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ChannelNotConfigured(f"email: {env} must be a port number, got {raw!r}")


def _max_bytes(raw: str) -> int:
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ChannelNotConfigured(f"email: EMAIL_MAX_BYTES must be a positive number of bytes, got {raw!r}")
    return limit


def _backlog_hours(raw: str) -> float:
    if not raw:
        return DEFAULT_BACKLOG_HOURS
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not 0 <= hours < float("inf"):
        raise ChannelNotConfigured(f"email: EMAIL_BACKLOG_HOURS must be a number of hours (0 or more), got {raw!r}")
    return hours


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False
