"""`threadline handoffs`: the open handoffs (the agents' queue) with their summaries."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Dict, List

from threadline.cli.output import emit
from threadline.crm import Database
from threadline.crm.models.base import utcnow
from threadline.handoff.store import open_handoffs


def register(subparsers, common) -> None:
    parser = subparsers.add_parser("handoffs", parents=[common],
                                   help="list open handoffs, most urgent first, with their summaries")
    parser.set_defaults(handler=run)


def _waiting(created_at: str, now: datetime) -> str:
    minutes = int((now - datetime.fromisoformat(created_at.rstrip("Z"))).total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def render(handoffs: List[Dict[str, Any]]) -> str:
    if not handoffs:
        return "No open handoffs."
    now, blocks = utcnow(), []
    for h in handoffs:
        owner = f", assigned to {h['assigned_agent_id']}" if h["assigned_agent_id"] else ""
        blocks.append(
            f"{h['id']}  P{h['priority']}  {h['status']}{owner}  {h['reason']}  {h['customer_id']}"
            f"  on {h['channel'] or '?'}, waiting {_waiting(h['created_at'], now)}\n"
            + "\n".join(f"    {line}" for line in h["summary_text"].splitlines()))
    return "\n\n".join(blocks)


def run(args) -> int:
    database = Database.from_env()
    try:
        handoffs = [h.to_dict() for h in asyncio.run(open_handoffs(database))]
    finally:
        database.dispose()
    emit(args, handoffs, render)
    return 0
