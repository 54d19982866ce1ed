"""Tell the team about a new handoff: POST `{"text": …}` to HANDOFF_WEBHOOK_URL.

That body is what Slack and Microsoft Teams incoming webhooks accept. The text is the summary
paragraph and a link to the handoff in the console (HANDOFF_CONSOLE_URL, default the local
console). A notification is a courtesy: it has a timeout and never fails the handoff.

The paragraph quotes what the customer wrote, so `&`, `<` and `>` are escaped as Slack asks
(Teams renders the same entities): a customer cannot write `<!channel>` or a disguised
`<https://evil|link>` into the team's channel.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Optional, Set

import aiohttp

from threadline.settings import DEFAULT_CONSOLE_PORT

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0
_pending: Set[asyncio.Task] = set()  # keeps fire-and-forget tasks alive until they finish


def console_link(handoff_id: str) -> str:
    base = os.environ.get("HANDOFF_CONSOLE_URL", "").strip().rstrip("/")
    if not base:
        base = f"http://127.0.0.1:{os.environ.get('CONSOLE_PORT', '').strip() or DEFAULT_CONSOLE_PORT}"
    return f"{base}/handoffs/{handoff_id}"


def escape_markup(text: str) -> str:
    """Slack's three control characters as entities (`&` first, so nothing is escaped twice)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notification_text(handoff_id: str, paragraph: str) -> str:
    return f"New handoff: {escape_markup(paragraph)}\n{console_link(handoff_id)}"


async def post_notification(url: str, text: str, *, timeout_s: float = TIMEOUT_S) -> bool:
    """True when the webhook answered 2xx; every failure is logged (without the text) and swallowed."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            async with session.post(url, json={"text": text}) as response:
                if response.status < 300:
                    return True
                log.warning("handoff notification refused: HTTP %s", response.status)
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        log.warning("handoff notification failed: %s", error.__class__.__name__)
    return False


def notify_new_handoff(handoff_id: str, paragraph: str) -> Optional[asyncio.Task]:
    """Send the notification in the background when HANDOFF_WEBHOOK_URL is set; the reply
    to the customer does not wait for it. Returns the task (tests await it), or None."""
    url = os.environ.get("HANDOFF_WEBHOOK_URL", "").strip()
    if not url:
        return None
    task = asyncio.get_running_loop().create_task(
        post_notification(url, notification_text(handoff_id, paragraph)))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task
