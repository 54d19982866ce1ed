"""Sandbox settings, and the environment `make run` gives channels that have no credentials."""
from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional

from threadline.sandbox.modes import (SANDBOX, SANDBOX_RBM_AGENT_PREFIX, SANDBOX_TOKEN_PREFIX, SANDBOX_TWILIO_SID,
                                      ChannelConfigError, channel_mode, channel_modes, is_production)
from threadline.sandbox.rbm_key import write_service_account

DEFAULT_PORT = 5080
SANDBOX_PHONE_NUMBER_ID = "100000000000001"
SANDBOX_INSTAGRAM_ACCOUNT = "17841400000000001"
SANDBOX_FROM_NUMBER = "+15550001234"
ALL_CHANNEL_VARS = (
    "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_API_URL", "INSTAGRAM_APP_SECRET", "INSTAGRAM_VERIFY_TOKEN", "INSTAGRAM_ACCESS_TOKEN",
    "INSTAGRAM_ACCOUNT_ID", "INSTAGRAM_API_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER", "TWILIO_API_URL", "TWILIO_WEBHOOK_URL", "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_CONTENT_API_URL",
    "RBM_AGENT_ID", "RBM_CLIENT_TOKEN", "RBM_SERVICE_ACCOUNT_FILE", "RBM_API_URL",
    # Email has no sandbox: unset means the channel is disabled (credentials.yml needs them set).
    "EMAIL_ADDRESS", "EMAIL_IMAP_HOST", "EMAIL_IMAP_PORT", "EMAIL_IMAP_USER", "EMAIL_IMAP_PASSWORD",
    "EMAIL_IMAP_MAILBOX", "EMAIL_IMAP_SECURITY", "EMAIL_SMTP_HOST", "EMAIL_SMTP_PORT", "EMAIL_SMTP_USER",
    "EMAIL_SMTP_PASSWORD", "EMAIL_SMTP_SECURITY", "EMAIL_MAILGUN_SIGNING_KEY",
    # Web chat: none set is its sandbox (the connector generates a secret; the demo page).
    "WEBCHAT_JWT_SECRET", "WEBCHAT_ALLOWED_ORIGINS",
)


def sandboxed_channels(env: Mapping[str, str]) -> list[str]:
    """Channels that `make run` puts on the sandbox: those with none of their variables set
    (threadline/sandbox/modes.py), RCS last. Raises ChannelConfigError for a partly configured channel."""
    channels = [channel for channel, mode in channel_modes(env).items() if mode == SANDBOX]
    return channels + (["rcs"] if channel_mode("rcs", env, env) == SANDBOX else [])


def sandbox_port(env: Mapping[str, str]) -> int:
    return int(env.get("THREADLINE_SANDBOX_PORT") or DEFAULT_PORT)


def sandbox_env(env: Mapping[str, str], sandbox_port: int, rasa_port: int,
                var_dir: Optional[Path] = None) -> Dict[str, str]:
    """Variables for the Rasa server and the sandbox: generated secrets and loopback API URLs
    for sandboxed channels; empty strings for unset ones (credentials.yml expands them all).
    Channels with real credentials are passed through untouched. A sandboxed RCS agent gets a
    service account key file of its own, written under `var_dir` (else a temporary folder)."""
    base = f"http://127.0.0.1:{sandbox_port}"
    out = {name: env.get(name, "") for name in ALL_CHANNEL_VARS}
    channels = sandboxed_channels(env)
    if "whatsapp" in channels:
        out.update(WHATSAPP_APP_SECRET=secrets.token_hex(16), WHATSAPP_VERIFY_TOKEN=secrets.token_hex(8),
                   WHATSAPP_ACCESS_TOKEN=SANDBOX_TOKEN_PREFIX + secrets.token_hex(16),
                   WHATSAPP_PHONE_NUMBER_ID=SANDBOX_PHONE_NUMBER_ID, WHATSAPP_API_URL=f"{base}/graph/v23.0")
    if "instagram" in channels:
        out.update(INSTAGRAM_APP_SECRET=secrets.token_hex(16), INSTAGRAM_VERIFY_TOKEN=secrets.token_hex(8),
                   INSTAGRAM_ACCESS_TOKEN=SANDBOX_TOKEN_PREFIX + secrets.token_hex(16),
                   INSTAGRAM_ACCOUNT_ID=SANDBOX_INSTAGRAM_ACCOUNT, INSTAGRAM_API_URL=f"{base}/instagram/v23.0")
    if "sms" in channels:
        out.update(TWILIO_ACCOUNT_SID=SANDBOX_TWILIO_SID, TWILIO_AUTH_TOKEN=secrets.token_hex(16),
                   TWILIO_FROM_NUMBER=SANDBOX_FROM_NUMBER, TWILIO_API_URL=f"{base}/twilio",
                   TWILIO_CONTENT_API_URL=f"{base}/twilio-content",
                   TWILIO_WEBHOOK_URL=f"http://127.0.0.1:{rasa_port}/webhooks/sms/webhook")
    if "rcs" in channels:
        folder = Path(var_dir) / "sandbox" if var_dir else Path(tempfile.mkdtemp(prefix="threadline-rbm-"))
        key = write_service_account(folder / "rbm-service-account.json", f"{base}/rbm/token")
        out.update(RBM_AGENT_ID=f"{SANDBOX_RBM_AGENT_PREFIX}threadline@rbm.goog", RBM_CLIENT_TOKEN=secrets.token_hex(16),
                   RBM_SERVICE_ACCOUNT_FILE=str(key), RBM_API_URL=f"{base}/rbm")
    out["THREADLINE_SANDBOX_CHANNELS"] = ",".join(channels)
    out["THREADLINE_SANDBOX_PORT"] = str(sandbox_port)
    out["THREADLINE_SANDBOX_TOKEN"] = env.get("THREADLINE_SANDBOX_TOKEN", "").strip() or new_page_token()
    return out


def new_page_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class SandboxConfig:
    port: int
    webhook_base: str  # e.g. http://127.0.0.1:5005/webhooks
    channels: tuple
    env: Mapping[str, str]
    # What the simulator page and the /sandbox/ API require (cookie or X-Sandbox-Token): they
    # show identity codes and speak as any customer of the sandboxed channels.
    page_token: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "SandboxConfig":
        if is_production(env):
            raise ChannelConfigError("THREADLINE_ENV=production refuses to start the sandbox provider")
        port = sandbox_port(env)
        rasa_port = env.get("RASA_PORT") or "5005"
        channels = tuple(filter(None, env.get("THREADLINE_SANDBOX_CHANNELS", "whatsapp,instagram,sms,rcs").split(",")))
        base = env.get("THREADLINE_SANDBOX_WEBHOOK_BASE") or f"http://127.0.0.1:{rasa_port}/webhooks"
        token = env.get("THREADLINE_SANDBOX_TOKEN", "").strip() or new_page_token()
        return cls(port=port, webhook_base=base.rstrip("/"), channels=channels, env=dict(env), page_token=token)

    @property
    def origins(self) -> frozenset:
        """The page's own origins: the only ones whose browser requests are accepted."""
        return frozenset({f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"})

    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.page_token}"

    def get(self, name: str) -> str:
        return self.env.get(name, "")
