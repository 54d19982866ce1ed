"""Whether each webhook channel is live, sandboxed or off, decided from its own variables only.

One rule for the launcher, the connectors (`rasa run` without the launcher) and the console:
- every required variable set: live, unless the values are the ones `make run` generated for
  the sandbox (recognisable by their sandbox-only form, see `is_sandbox_credential`);
- some but not all set: refused, naming each missing variable (a misspelt name must never
  quietly turn real customers' replies into sandbox traffic);
- none set: the sandbox, or disabled when `THREADLINE_ENV=production` or `SANDBOX=0`.
`THREADLINE_SANDBOX_CHANNELS` and `SANDBOX=1` never turn a channel with real credentials into a
sandboxed one. No Rasa imports: the launcher and the console read this too.
"""
from __future__ import annotations

from typing import Dict, Mapping, Tuple

LIVE, SANDBOX, DISABLED = "live", "sandbox", "disabled"

# What each connector needs to verify webhooks and to send. The *_API_URL variables have
# defaults and do not count; INSTAGRAM_ACCOUNT_ID neither: the connector sends through
# /me/messages and never reads it.
CHANNEL_VARS: Dict[str, Tuple[str, ...]] = {
    "whatsapp": ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN",
                 "WHATSAPP_PHONE_NUMBER_ID"),
    "instagram": ("INSTAGRAM_APP_SECRET", "INSTAGRAM_VERIFY_TOKEN", "INSTAGRAM_ACCESS_TOKEN"),
    "sms": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_WEBHOOK_URL"),
}
# RCS through Google RBM (connectors/rcs). Decided by the same rules, but not (yet) one of the
# channels `make run` lists and sandboxes by itself: its sandbox is set up by whoever starts it.
OTHER_CHANNEL_VARS: Dict[str, Tuple[str, ...]] = {
    "rcs": ("RBM_AGENT_ID", "RBM_CLIENT_TOKEN", "RBM_SERVICE_ACCOUNT_FILE"),
    # Web chat (connectors/webchat): no provider; its sandbox serves the demo host page.
    "webchat": ("WEBCHAT_JWT_SECRET", "WEBCHAT_ALLOWED_ORIGINS"),
}

# The generated sandbox credentials carry a form no real provider issues: Meta tokens start
# with "EAA"/"IG", Twilio account SIDs are "AC" + 32 hex digits of a real account.
SANDBOX_TOKEN_PREFIX = "sandbox-"
SANDBOX_TWILIO_SID = "AC" + "0" * 32
SANDBOX_RBM_AGENT_PREFIX = "sandbox-"  # real RBM agent ids end in "@rbm.goog" and start with the brand


def channel_vars(channel: str) -> Tuple[str, ...]:
    return CHANNEL_VARS.get(channel) or OTHER_CHANNEL_VARS[channel]


class ChannelConfigError(ValueError):
    """A channel's variables say neither "live" nor "sandbox"; the message says what to set."""


def is_production(env: Mapping[str, str]) -> bool:
    return env.get("THREADLINE_ENV", "").strip().lower() == "production"


def sandbox_allowed(env: Mapping[str, str]) -> bool:
    return not is_production(env) and env.get("SANDBOX", "").strip().lower() not in ("0", "false", "no")


def is_sandbox_credential(channel: str, values: Mapping[str, str]) -> bool:
    """True for the credentials `make run` generates for a sandboxed channel."""
    if channel == "sms":
        return values.get("TWILIO_ACCOUNT_SID", "").strip() == SANDBOX_TWILIO_SID
    if channel == "rcs":
        return values.get("RBM_AGENT_ID", "").strip().startswith(SANDBOX_RBM_AGENT_PREFIX)
    if channel == "webchat":
        return values.get("WEBCHAT_JWT_SECRET", "").strip().startswith(SANDBOX_TOKEN_PREFIX)
    token = "WHATSAPP_ACCESS_TOKEN" if channel == "whatsapp" else "INSTAGRAM_ACCESS_TOKEN"
    return values.get(token, "").strip().startswith(SANDBOX_TOKEN_PREFIX)


def channel_mode(channel: str, values: Mapping[str, str], env: Mapping[str, str]) -> str:
    """LIVE, SANDBOX or DISABLED for `channel`, whose variables are `values` (credentials.yml
    or the environment); `env` holds THREADLINE_ENV and SANDBOX. Raises ChannelConfigError."""
    names = channel_vars(channel)
    missing = [name for name in names if not values.get(name, "").strip()]
    if missing and len(missing) < len(names):
        raise ChannelConfigError(
            f"{channel} is partly configured: {', '.join(missing)} not set. Set every one of "
            f"{', '.join(names)} for the real provider, or none of them for the sandbox.")
    if missing:
        return SANDBOX if sandbox_allowed(env) else DISABLED
    if not is_sandbox_credential(channel, values):
        return LIVE
    if is_production(env):
        raise ChannelConfigError(
            f"{channel} has sandbox credentials and THREADLINE_ENV=production refuses any sandbox; "
            f"set the real provider's {', '.join(names)}.")
    return SANDBOX


def channel_modes(env: Mapping[str, str]) -> Dict[str, str]:
    """Every webhook channel's mode from one environment; raises naming every broken channel."""
    modes: Dict[str, str] = {}
    problems = []
    for channel in CHANNEL_VARS:
        try:
            modes[channel] = channel_mode(channel, env, env)
        except ChannelConfigError as error:
            problems.append(str(error))
    if problems:
        raise ChannelConfigError(" ".join(problems))
    return modes


def sandboxed(env: Mapping[str, str]) -> Tuple[str, ...]:
    """The channels running against the sandbox in `env` (none if the settings are broken:
    whoever starts a channel refuses those)."""
    try:
        modes = channel_modes(env)
    except ChannelConfigError:
        return ()
    return tuple(channel for channel, mode in modes.items() if mode == SANDBOX)
