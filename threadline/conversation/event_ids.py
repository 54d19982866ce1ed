"""Stable event identity: every message gets an id when it is appended to the log, and keeps it.

The id is stored in the event itself (`threadline_id`, a top-level key Rasa ignores when it
rebuilds events), so it travels with the event through merges, unmerges, archives and
exports. Every reader keys on `event_id(...)`: the CRM timeline, summaries, the console.

Events stored before ids existed, and events that are not messages, have none; their id is derived from what they were when
first stored (the customer whose log they were appended to and their content, without the
bookkeeping a merge adds), which is also the key the CRM timeline gave them then, so their
existing rows are found again rather than copied.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any, Dict

EVENT_ID = "threadline_id"
ORIGIN = "threadline_origin"  # the merge stack (threadline/identity/history.py)
_BOOKKEEPING = (EVENT_ID, ORIGIN)


def new_event_id() -> str:
    """128 random bits in 22 URL-safe characters (hex took 32; every message stores one)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


# The events readers key on (the CRM timeline, summaries, the console: messages). Other events
# (actions, slots, featurization...) are stored without one: their derived id is as stable,
# since stored events are never rewritten, and ~50 bytes per event is a third of a small one.
KEYED_EVENTS = ("user", "bot")


def with_event_id(event: Dict[str, Any]) -> Dict[str, Any]:
    """`event` with an id (its own if it has one) if it is a message: what the log stores."""
    if isinstance(event.get(EVENT_ID), str) and event[EVENT_ID]:
        return event
    if event.get("event") not in KEYED_EVENTS:
        return event
    return {**event, EVENT_ID: new_event_id()}


def event_id(customer_id: str, event: Dict[str, Any]) -> str:
    """The event's stable id; `customer_id` is the log it is read from (used for old events)."""
    own = event.get(EVENT_ID)
    if isinstance(own, str) and own:
        return f"evt:{own}"
    origins = event.get(ORIGIN)
    first_owner = origins[0] if isinstance(origins, list) and origins else customer_id
    content = {k: v for k, v in event.items() if k not in _BOOKKEEPING}
    digest = hashlib.sha256((str(first_owner) + "\n" + json.dumps(content, sort_keys=True)).encode()).hexdigest()
    return f"rasa:{digest[:40]}"
