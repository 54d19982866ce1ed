"""Configuration from environment variables (and `.env` when present).

Every setting a user can change is read here, so `.env.example` and this module are the
whole list. Values in the real environment win over `.env`.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

PROJECT_DIR = Path(__file__).resolve().parent.parent


def load_env_file(project_dir: Path = PROJECT_DIR) -> None:
    """Read `<project>/.env` into the environment without overriding real variables."""
    load_dotenv(project_dir / ".env", override=False)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"threadline: {name} must be a whole number, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    var_dir: Path
    redis_url: str | None
    local_redis_port: int
    rasa_port: int
    action_port: int
    crm_timeline_port: int
    console_port: int
    inbox_worker_port: int
    rasa_auth_token: str
    auth_token_generated: bool

    @classmethod
    def from_env(cls) -> "Settings":
        load_env_file()
        token = os.environ.get("RASA_AUTH_TOKEN", "").strip()
        generated = not token
        if generated:
            token = secrets.token_urlsafe(24)
        var_dir = Path(os.environ.get("THREADLINE_VAR_DIR") or PROJECT_DIR / "var")
        return cls(
            project_dir=PROJECT_DIR,
            var_dir=var_dir,
            redis_url=os.environ.get("REDIS_URL", "").strip() or None,
            local_redis_port=_int("THREADLINE_REDIS_PORT", 6380),
            rasa_port=_int("RASA_PORT", 5005),
            action_port=_int("ACTION_PORT", 5055),
            crm_timeline_port=_int("CRM_TIMELINE_PORT", 5056),
            console_port=_int("CONSOLE_PORT", 5060),
            inbox_worker_port=_int("THREADLINE_INBOX_WORKER_PORT", 5057),
            rasa_auth_token=token,
            auth_token_generated=generated,
        )
