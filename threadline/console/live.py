"""Live updates by server-sent events: each open stream polls the CRM database every second.

Polling the database (rather than a pub/sub channel) needs nothing from the pipeline and
cannot miss an update: whatever the database shows is what the page gets.

- /events/queue sends `queue` (the rendered queue rows) whenever the open handoffs change.
- /events/handoffs/{id} sends `timeline` (new rendered timeline entries; the SSE id is the
  last interaction id, so a reconnecting browser resumes where it was) and `status` when the
  handoff changes state or owner (the page reloads).

A stream outlives the request that opened it, so it checks its session again every
`session_check_s` (30 s), and before every update it sends: when the agent logged out, was
disabled or the session reached its lifetime, the stream ends and the tab stops updating, and
nothing more reaches it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Optional

from aiohttp import web

from threadline.console import reads
from threadline.console.i18n import translator
from threadline.console.rendering import language_of, render_fragment
from threadline.console.security import SESSION_COOKIE, logged_in
from threadline.console.views import queue_context
from threadline.handoff.store import get_handoff, open_handoffs
from threadline.console.state import console_of

log = logging.getLogger("threadline.console")

HEARTBEAT_S = 15.0
QUEUE_REFRESH_S = 30


async def _open_stream(request: web.Request) -> web.StreamResponse:
    # Known to the app, so that shutting down waits for the stream to end (see app.py).
    task, streams = asyncio.current_task(), console_of(request).streams
    streams.add(task)
    task.add_done_callback(streams.discard)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    return response


class _SessionEnded(Exception):
    """The stream's session no longer holds: the stream ends."""


async def _check_session(request: web.Request) -> None:
    _session, agent = await logged_in(console_of(request), request.cookies.get(SESSION_COOKIE), touch=False)
    if agent is None:
        log.info("console: live stream closed: its session ended or its agent was disabled")
        raise _SessionEnded


async def _send(request: web.Request, response: web.StreamResponse, event: str, data: object,
                event_id: Optional[int] = None) -> None:
    await _check_session(request)  # an agent disabled since the last periodic check gets nothing more
    head = f"id: {event_id}\n" if event_id is not None else ""
    await response.write(f"{head}event: {event}\ndata: {json.dumps(data)}\n\n".encode())


async def _ticks(request: web.Request):
    """Yield once per poll interval until the app stops, the browser goes away or the
    session no longer holds."""
    console = console_of(request)
    last_write = last_check = time.monotonic()
    while not console.stopping.is_set() and request.transport is not None and not request.transport.is_closing():
        yield
        try:
            await asyncio.wait_for(console.stopping.wait(), min(console.poll_s, console.session_check_s))
        except asyncio.TimeoutError:
            pass
        if time.monotonic() - last_check >= console.session_check_s:
            last_check = time.monotonic()
            await _check_session(request)
        if time.monotonic() - last_write > HEARTBEAT_S:
            last_write = time.monotonic()
            yield "heartbeat"


async def queue_events(request: web.Request) -> web.StreamResponse:
    response = await _open_stream(request)
    seen = None
    try:
        async for tick in _ticks(request):
            if tick == "heartbeat":
                await response.write(b": ping\n\n")
                continue
            handoffs = await open_handoffs(console_of(request).db)
            # Also every QUEUE_REFRESH_S, so that the waiting times shown keep counting.
            state = ([(h.id, h.status, h.assigned_agent_id) for h in handoffs], int(time.time() // QUEUE_REFRESH_S))
            if state != seen:
                seen = state
                html = render_fragment(request, "_queue_rows.html", await queue_context(request))
                count = len(handoffs)
                word = translator(language_of(request)).ngettext("open", "open", count)
                await _send(request, response, "queue", {"html": html, "count": count, "count_word": word})
    except ConnectionResetError:  # the browser went away
        pass
    except _SessionEnded:
        pass
    return response


async def conversation_events(request: web.Request) -> web.StreamResponse:
    handoff_id = request.match_info["handoff_id"]
    handoff = await get_handoff(console_of(request).db, handoff_id)
    if handoff is None:
        raise web.HTTPNotFound(text="no such handoff")
    after = max(_int(request.headers.get("Last-Event-ID")), _int(request.query.get("after")))
    state = (handoff.status, handoff.assigned_agent_id)
    response = await _open_stream(request)
    try:
        async for tick in _ticks(request):
            if tick == "heartbeat":
                await response.write(b": ping\n\n")
                continue
            entries = await reads.timeline_after(console_of(request).db, handoff.customer_id, after)
            if entries:
                after = entries[-1].id
                html = render_fragment(request, "_timeline_entries.html", {"entries": entries})
                await _send(request, response, "timeline", {"html": html}, event_id=after)
            now = await get_handoff(console_of(request).db, handoff_id)
            if (now.status, now.assigned_agent_id) != state:
                state = (now.status, now.assigned_agent_id)
                await _send(request, response, "status", {"status": now.status})
    except ConnectionResetError:  # the browser went away
        pass
    except _SessionEnded:
        pass
    return response


def _int(raw: Optional[str]) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0
