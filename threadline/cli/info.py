"""`threadline info`: where this installation keeps its data, what it connects to, how
much mail the email channel quarantined (refused unread; see docs/security.md), how many
events the CRM timeline dead-lettered (docs/crm.md) and how many channel messages the inbox
gave up on (dead letters per channel, docs/channels.md)."""
from __future__ import annotations

import asyncio
from typing import Any, Dict

from redis.exceptions import RedisError

from connectors.email.state import EmailState
from connectors.webhook.inbox import dead_letter_counts
from threadline.conversation.redis_connection import connect, redacted
from threadline.cli.output import emit
from threadline.crm.timeline_worker import dead_letter_count
from threadline.settings import Settings


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("info", parents=[common],
                                   help="show configuration, data locations and quarantined mail")
    parser.set_defaults(handler=run)


async def stored_counts(redis_url: str) -> Dict[str, Any]:
    """Quarantined mail, the CRM timeline's and the inbox's dead letters, or why Redis could not say."""
    redis = connect(redis_url, timeout_s=2, retries=1)
    try:
        inbox = await dead_letter_counts(redis)
        return {"quarantined_mail": await EmailState(redis).quarantined(),
                "timeline_dead_letters": await dead_letter_count(redis),
                "inbox_dead_letters": {"total": sum(inbox.values()), "by_channel": inbox}}
    except (RedisError, OSError) as error:
        unavailable = {"error": f"Redis unavailable ({type(error).__name__})"}
        return {"quarantined_mail": unavailable, "timeline_dead_letters": unavailable,
                "inbox_dead_letters": unavailable}
    finally:
        await redis.close()


def _render(payload: Dict[str, Any]) -> str:
    counted = ("quarantined_mail", "timeline_dead_letters", "inbox_dead_letters")
    lines = [f"{k:12} {v}" for k, v in payload.items() if k not in counted]
    dead = payload["timeline_dead_letters"]
    lines.append(f"{'dead letters':12} " + (f"unknown: {dead['error']}" if isinstance(dead, dict) else
                                           f"{dead} timeline event(s) not copied to the CRM (docs/crm.md)"))
    inbox = payload["inbox_dead_letters"]
    by_channel = ", ".join(f"{channel}: {count}" for channel, count in inbox.get("by_channel", {}).items())
    lines.append(f"{'':12} " + (f"unknown: {inbox['error']}" if "error" in inbox else
                                f"{inbox['total']} channel message(s) not answered" + (f" ({by_channel})" if by_channel else "")
                                + " (docs/channels.md)"))
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
        **asyncio.run(stored_counts(redis_url)),
    }
    emit(args, payload, _render)
    return 0
