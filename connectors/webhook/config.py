"""Channel settings: credentials from credentials.yml (${ENV} values), fail closed."""
from __future__ import annotations

import logging
import os
import secrets
from typing import Any, Dict, Optional

from rasa.shared.exceptions import RasaException

log = logging.getLogger(__name__)


class ChannelNotConfigured(RasaException):
    """A channel's secret is missing outside sandbox mode: the server must not start."""


def sandbox_mode(channel: str, has_credentials: bool) -> bool:
    """`SANDBOX=1` forces it, `SANDBOX=0` forbids it; unset means "when no credentials".

    `make run` gives sandboxed channels generated secrets and lists them in
    THREADLINE_SANDBOX_CHANNELS; a channel with real credentials is never sandboxed by that.
    """
    if channel in os.environ.get("THREADLINE_SANDBOX_CHANNELS", "").split(","):
        return True
    raw = os.environ.get("SANDBOX", "").strip().lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    return not has_credentials


def value(credentials: Optional[Dict[str, Any]], key: str, env: str, default: str = "") -> str:
    """The credentials.yml value, else the environment variable, else `default`."""
    raw = (credentials or {}).get(key)
    if raw in (None, ""):
        raw = os.environ.get(env, "")
    return str(raw).strip() or default


def require_secret(channel: str, env: str, secret: str, sandbox: bool) -> str:
    """The secret, a generated one in sandbox mode, or refuse to start."""
    if secret:
        return secret
    if not sandbox:
        raise ChannelNotConfigured(
            f"{channel}: {env} is not set, so webhooks could not be verified; refusing to start. "
            f"Set {env}, or SANDBOX=1 to use the local sandbox provider."
        )
    log.warning("%s: %s not set; sandbox mode with a generated secret (no real provider can "
                "reach this channel)", channel, env)
    return secrets.token_urlsafe(24)
