"""Web chat settings, from credentials.yml (${ENV} values) or the environment.

WEBCHAT_JWT_SECRET and WEBCHAT_ALLOWED_ORIGINS go together (threadline/sandbox/modes.py): both
set is live, neither is the sandbox (a generated `sandbox-…` secret, the Rasa server's own
origin, the demo host page), one alone refuses to start. A secret starting with `sandbox-`
is a sandbox too (what tests and the launcher use), refused in production.
Limits: WEBCHAT_MAX_MESSAGES_PER_MINUTE per visitor (default 20) and
WEBCHAT_MAX_CONNECTIONS_PER_MINUTE per client IP address (default 60), WEBCHAT_MAX_ATTACHMENT_BYTES
per file (default 5 MB). WEBCHAT_REPLY_ELSEWHERE=true: an agent's reply to a visitor with no open
widget also goes to their other verified channel (default off).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Optional
from urllib.parse import urlsplit

from connectors.webchat.attachments import DEFAULT_MAX_BYTES
from connectors.webhook import config
from threadline.sandbox import modes

MAX_FRAME_BYTES = 8 * 1024  # a message of MAX_TEXT_CHARS in any script fits
MAX_TEXT_CHARS = 2000


def normalized_origin(raw: str) -> Optional[str]:
    """`scheme://host[:port]` lowercased, default ports dropped; None for anything else."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{parts.hostname.lower()}" + (f":{port}" if port and port != default else "")


def _int(raw: str, default: int) -> int:
    try:
        return max(1, int(raw)) if raw.strip() else default
    except ValueError:
        return default


@dataclass(frozen=True)
class WebchatSettings:
    jwt_secret: str
    allowed_origins: FrozenSet[str]
    sandbox: bool
    disabled: bool
    max_messages_per_minute: int = 20
    max_connections_per_minute: int = 60
    max_attachment_bytes: int = DEFAULT_MAX_BYTES
    reply_elsewhere: bool = False

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "WebchatSettings":
        get = lambda key, env, default="": config.value(credentials, key, env, default)  # noqa: E731
        values = {"WEBCHAT_JWT_SECRET": get("jwt_secret", "WEBCHAT_JWT_SECRET"),
                  "WEBCHAT_ALLOWED_ORIGINS": get("allowed_origins", "WEBCHAT_ALLOWED_ORIGINS")}
        mode = config.channel_mode("webchat", values)
        origins = values["WEBCHAT_ALLOWED_ORIGINS"]
        if not origins and mode == modes.SANDBOX:
            port = os.environ.get("RASA_PORT", "5005")
            origins = f"http://127.0.0.1:{port},http://localhost:{port}"
        allowed = {normalized_origin(o) for o in origins.split(",") if o.strip()}
        if None in allowed:
            raise config.ChannelNotConfigured(
                "WEBCHAT_ALLOWED_ORIGINS must list origins like https://shop.example.com, comma separated. "
                "Refusing to start.")
        return cls(
            jwt_secret=values["WEBCHAT_JWT_SECRET"] or modes.SANDBOX_TOKEN_PREFIX + secrets.token_urlsafe(24),
            allowed_origins=frozenset(o for o in allowed if o),
            sandbox=mode == modes.SANDBOX,
            disabled=mode == modes.DISABLED,
            max_messages_per_minute=_int(get("max_messages_per_minute", "WEBCHAT_MAX_MESSAGES_PER_MINUTE"), 20),
            max_connections_per_minute=_int(get("max_connections_per_minute", "WEBCHAT_MAX_CONNECTIONS_PER_MINUTE"), 60),
            max_attachment_bytes=_int(get("max_attachment_bytes", "WEBCHAT_MAX_ATTACHMENT_BYTES"), DEFAULT_MAX_BYTES),
            reply_elsewhere=str(get("reply_elsewhere", "WEBCHAT_REPLY_ELSEWHERE")).strip().lower() in ("1", "true", "yes"),
        )

    def allows(self, origin: Optional[str]) -> bool:
        return bool(origin) and normalized_origin(origin) in self.allowed_origins
