"""RCS (Google RBM) settings for the scripted stack and the sandbox, and signed deliveries."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Dict

from threadline.sandbox import payloads as p
from threadline.sandbox.rbm import write_service_account
from tests.support.waiting import wait_for

PHONE = "+5511987654321"
AGENT_ID = "sandbox-threadline-agent@rbm.goog"


def rcs_env(env: Dict[str, str], folder: Path) -> Dict[str, str]:
    """`env` (the channel tests' settings) plus an RBM agent served by the sandbox."""
    sandbox = f"http://127.0.0.1:{env['THREADLINE_SANDBOX_PORT']}"
    key = write_service_account(folder / "rbm-service-account.json", f"{sandbox}/rbm/token")
    channels = ",".join(filter(None, [env.get("THREADLINE_SANDBOX_CHANNELS", ""), "rcs"]))
    return {**env, "RBM_AGENT_ID": AGENT_ID, "RBM_CLIENT_TOKEN": secrets.token_urlsafe(24),
            "RBM_SERVICE_ACCOUNT_FILE": str(key), "RBM_API_URL": f"{sandbox}/rbm",
            "THREADLINE_SANDBOX_CHANNELS": channels}


def message(env: Dict[str, str], text: str = None, *, postback: str = None, phone: str = PHONE,
            message_id: str = "", **extra) -> p.Delivery:
    return p.rbm_delivery(env["RBM_CLIENT_TOKEN"], p.rbm_user_message(
        env["RBM_AGENT_ID"], phone, text=text, postback=postback, message_id=message_id, **extra))


def rcs_sent(sandbox, to: str = PHONE) -> list:
    return [s for s in sandbox.sent if s["channel"] == "rcs" and s["to"] == to]


async def wait_until_rcs_ready(bot) -> None:
    async def ready():
        return bot.edge.health("rcs") == 200
    await wait_for(ready, 30)
