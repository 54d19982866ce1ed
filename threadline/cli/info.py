"""`threadline info`: where this installation keeps its data, what it connects to, and how
much mail the email channel quarantined (refused unread; see docs/security.md)."""
from __future__ import annotations

import asyncio
from typing import Any, Dict

from redis.asyncio import Redis
from redis.exceptions import RedisError

from connectors.email.state import EmailState
from connectors.redis_connection import redacted
from threadline.cli.output import emit
from threadline.settings import Settings


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("info", parents=[common],
                                   help="show configuration, data locations and quarantined mail")
    parser.set_defaults(handler=run)


async def quarantined_mail(redis_url: str) -> Dict[str, Any]:
    redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return await EmailState(redis).quarantined()
    except (RedisError, OSError) as error:
        return {"error": f"Redis unavailable ({type(error).__name__})"}
    finally:
        await redis.close()


def _render(payload: Dict[str, Any]) -> str:
    lines = [f"{k:12} {v}" for k, v in payload.items() if k != "quarantined_mail"]
    quarantine = payload["quarantined_mail"]
    if "error" in quarantine:
        lines.append(f"{'quarantined':12} unknown: {quarantine['error']}")
        return "\n".join(lines)
    by_source = ", ".join(f"{source}: {count}" for source, count in sorted(quarantine["by_source"].items()))
    lines.append(f"{'quarantined':12} {quarantine['total']} mail" + (f" ({by_source})" if by_source else ""))
    for entry in quarantine["recent"][:10]:
        uid = f"UID {entry['uid']}" if entry["uid"] is not None else "webhook"
        lines.append(f"{'':12}   {uid} in {entry['source']}, {entry['size']} bytes: {entry['reason']}")
    return "\n".join(lines)


def run(args) -> int:
    s = Settings.from_env()
    redis_url = s.redis_url or f"redis://127.0.0.1:{s.local_redis_port}/0"
    payload = {
        "project_dir": str(s.project_dir),
        "var_dir": str(s.var_dir),
        "redis_url": redacted(s.redis_url) if s.redis_url else f"{redis_url} (project-local)",
        "rasa_port": s.rasa_port,
        "action_port": s.action_port,
        "quarantined_mail": asyncio.run(quarantined_mail(redis_url)),
    }
    emit(args, payload, _render)
    return 0
