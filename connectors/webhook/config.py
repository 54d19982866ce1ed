"""Channel settings: credentials from credentials.yml (${ENV} values), fail closed."""
from __future__ import annotations

import logging
import os
import secrets
from typing import Any, Dict, Mapping, Optional

from rasa.shared.exceptions import RasaException

from threadline.sandbox import modes

log = logging.getLogger(__name__)


class ChannelNotConfigured(RasaException):
    """A channel is partly configured, or sandboxed in production: the server must not start."""


def channel_mode(channel: str, values: Mapping[str, str]) -> str:
    """LIVE, SANDBOX or DISABLED from the channel's own variables (threadline/sandbox/modes.py);
    a partly configured channel, or a sandbox in production, refuses to start."""
    try:
        mode = modes.channel_mode(channel, values, os.environ)
    except modes.ChannelConfigError as error:
        raise ChannelNotConfigured(f"{error} Refusing to start.") from None
    if mode == modes.SANDBOX:
        log.warning("%s: sandbox mode (no real provider can reach this channel; replies go to the "
                    "sandbox provider or nowhere)", channel)
    elif mode == modes.DISABLED:
        log.warning("%s: disabled (none of %s set, and THREADLINE_ENV=production or SANDBOX=0 "
                    "allows no sandbox)", channel, ", ".join(modes.channel_vars(channel)))
    return mode


def value(credentials: Optional[Dict[str, Any]], key: str, env: str, default: str = "") -> str:
    """The credentials.yml value, else the environment variable, else `default`."""
    raw = (credentials or {}).get(key)
    if raw in (None, ""):
        raw = os.environ.get(env, "")
    return str(raw).strip() or default


def webhook_secret(secret: str) -> str:
    """The configured secret, else (sandbox or disabled: `channel_mode` let nothing else
    through) a generated one that no provider knows, so no request can be signed with it."""
    return secret or secrets.token_urlsafe(24)
